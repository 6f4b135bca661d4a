import gc
import sys

from benchmark.cli import main

code = main()
gc.freeze()  # exit without a last collection over every object torch and transformers made (about 1 s)
sys.exit(code)
