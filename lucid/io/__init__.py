"""Reading and writing medical volumes with their geometry.

``read_volume`` / ``write_volume`` handle NIfTI (.nii, .nii.gz) through nibabel, an optional
extra (``pip install lucid[nifti]``). A ``Volume`` keeps the file's voxel order, so its array
and its affine always agree; ``read_sample`` reads an image and its label map into a sample
dict for ``lucid.transforms``' dictionary transforms (docs/io.md).
"""

from lucid.io.nifti import Volume, read_sample, read_volume, write_volume

__all__ = ["Volume", "read_volume", "write_volume", "read_sample"]
