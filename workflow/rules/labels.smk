# CORINE reference maps and 19-class labels.
