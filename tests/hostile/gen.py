#!/usr/bin/python3
"""gen.py ROOT NABLA: writes the binary cases of the hostile-input corpus.

Text cases (YAML, CSV) are files in tests/hostile/<class>/; the binary ones
(HDF5, IDX, gzip, float32 records) are written here, reproducibly, into
ROOT/<class>/ beside them (test_hostile.sh runs this on a copy of the corpus
in the build folder). Each writer below says what is wrong with its file;
the class's `cases` manifest says what nabla must print for it.
"""
import sys

ROOT, NABLA = sys.argv[1], sys.argv[2]
