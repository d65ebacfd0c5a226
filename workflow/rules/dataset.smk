# Selection and dataset assembly (metadata parquet files, trees).
