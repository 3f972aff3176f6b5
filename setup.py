from setuptools import find_packages, setup

# Versions are pinned for development in pins.txt; here only the ranges the code needs.
setup(
    name='vizattn',
    version='0.1.0',
    description='Vision-attention backbone zoo behind the timm and OpenMMLab interfaces',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(include=['vizattn', 'vizattn.*']) + ['vizattn.kernels', 'vizattn.checkpoints'],
    # The top-level kernels/ and checkpoints/ folders ship inside the package.
    package_dir={'vizattn.kernels': 'kernels', 'vizattn.checkpoints': 'checkpoints'},
    package_data={'vizattn.checkpoints': ['manifest.json']},
    install_requires=['torch>=2.5', 'torchvision', 'timm>=1.0.16,<1.1', 'einops', 'safetensors', 'numpy'],
    extras_require={
        'mm': ['mmengine>=0.10,<0.11', 'mmcv>=2.0,<2.2', 'mmdet>=3.3,<3.4', 'mmsegmentation>=1.2,<1.3',
               'ftfy', 'regex', 'albumentations'],
        'kernels': ['triton>=3.0'],
        'dev': ['pytest', 'pytest-timeout', 'onnx', 'onnxruntime'],
    },
)
