"""A standalone transparency-log witness: the commission's own copy of the log's history.

It speaks the C2SP witness protocol (https://c2sp.org/tlog-witness): a log posts a new
checkpoint with a consistency proof from the size the witness last co-signed; the witness
checks the log's signature and the proof against the checkpoint it remembers, stores the new
one durably and answers with a timestamped cosignature (https://c2sp.org/tlog-cosignature).
It never co-signs a checkpoint that is not an append-only extension of what it co-signed
before, so a log cannot show two different histories to two parties that both trust it.

Python's standard library and ``cryptography`` only: nothing here imports Django or any
other part of the service, and the package is copied into every audit bundle, so the
commission can run it from there:

    python -m audit.witness keygen --out witness.pem --name commission.example/witness
    python -m audit.witness serve --state DIR --key witness.pem \\
        --name commission.example/witness --log ORIGIN=VKEY --listen 127.0.0.1:8300
"""
