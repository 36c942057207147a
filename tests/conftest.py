import os
import sys
from pathlib import Path

# Tests import the helpers next to them (smf.py) by name.
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
