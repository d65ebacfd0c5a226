"""The dataset report (rule write_report): what went in, what was dropped and why, how labels
and countries spread over the splits, whether the splits leak, and the band statistics.

Every number comes from the dataset's tables (funnel.csv, metadata.parquet, the flagged
metadata file and the sidecar GeoParquet); only the example quick-looks read pixels, and the
band statistics arrive ready-made from reben.bandstats. The page (index.html) embeds its
images as data URIs, so it opens from disk and can be mailed; report.json holds the same
numbers (each number in the page carries a `data-key`, its path in report.json), and
tables/*.csv and figures/*.png are written beside it.

One concern per module, each imported from its own home (this file re-exports nothing):
`stats` (the numbers), `figures` (the plots and their colours), `page` (index.html from the
Jinja template) and `build` (build_report: read the inputs, write the outputs).
"""
