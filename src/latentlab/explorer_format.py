"""The version of explorer.json, the file behind a report's latent-space explorer.

evaluation/explorer.py writes the file (its layout is described there, the decoder's layers in
evaluation/decoder_layers.py) and reporting/explorer.py reads it; both stamp and check this one
number. Bump it when the layout changes in a way an older page or writer would misread.
"""

EXPLORER_FORMAT = 1
