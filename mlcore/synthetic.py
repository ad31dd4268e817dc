"""Old import path of mlcore.testing, for callers outside mlcore's part not yet moved.

tests/screening and tests/browser still import from here; delete this module once they
import mlcore.testing.arrays and mlcore.testing.files.
"""

from mlcore.testing.arrays import chest_like_array as chest_like_array
from mlcore.testing.files import dicom_bytes as dicom_bytes
from mlcore.testing.files import jpeg_bytes as jpeg_bytes
from mlcore.testing.files import png_bytes as png_bytes
