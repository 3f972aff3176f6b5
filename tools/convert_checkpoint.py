"""Convert an original released checkpoint to a vizattn safetensors file (timm-style key names), with its sha256.

    python tools/convert_checkpoint.py --model biformer_s biformer_small_in1k.pth [biformer_s.safetensors]
    python tools/convert_checkpoint.py --model litv2_s \
        https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth
    python tools/convert_checkpoint.py --model van_b0 released          # the manifest's release (download)

The source goes through ``timm.create_model(model, pretrained=True, pretrained_cfg_overlay=dict(file=...))``: the
family's ``checkpoint_filter_fn`` unwraps the original file (``{'model': ...}``, ``{'state_dict': ...}``, EMA with
``--use-ema``), renames the keys and checks them strictly, so a wrong variant fails here rather than later. The
file is read with ``weights_only=True``. The output loads with ``pretrained_cfg_overlay=dict(file=OUT)`` and in
``VizAttnBackbone(init_cfg=dict(type='Pretrained', checkpoint=OUT))``; a ``.sha256`` file is written beside it.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def sha256(path: str, desc: str) -> str:
    from tqdm import tqdm
    h = hashlib.sha256()
    with open(path, 'rb') as f, tqdm(total=os.path.getsize(path), unit='B', unit_scale=True, desc=desc,
                                    leave=False) as bar:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
            bar.update(len(chunk))
    return h.hexdigest()


def convert(model_name: str, src: str, dst: str = None, use_ema: bool = False) -> dict:
    import timm
    import torch
    from safetensors.torch import save_file
    from tqdm import tqdm

    import vizattn  # noqa: F401
    from vizattn.models._checkpoint import load_checkpoint_file
    overlay = None
    source = src
    if src.startswith(('http://', 'https://')):
        overlay = dict(url=src)
    elif src not in ('released', 'default'):
        if not osp.isfile(src):
            raise SystemExit(f'no such file: {src}')
        overlay = dict(state_dict=load_checkpoint_file(src, use_ema=use_ema)) if use_ema else dict(file=src)
    kwargs = dict(pretrained_cfg_overlay=overlay) if overlay else {}
    model = timm.create_model(model_name, pretrained=True, **kwargs)
    sd = model.state_dict()
    out = {}
    for k, v in tqdm(sd.items(), desc='tensors', unit='t', leave=False):
        out[k] = v.detach().to('cpu').contiguous()
    dst = dst or f'{model_name}.safetensors'
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    meta = dict(format='vizattn', model=model_name, source=osp.basename(str(source)), torch=torch.__version__)
    tmp = dst + '.tmp'
    save_file(out, tmp, metadata=meta)
    os.replace(tmp, dst)
    digest = sha256(dst, 'sha256')
    with open(dst + '.sha256', 'w') as f:
        f.write(f'{digest}  {osp.basename(dst)}\n')
    info = dict(model=model_name, source=str(source), output=dst, tensors=len(out),
                params=sum(v.numel() for v in out.values() if v.is_floating_point()), sha256=digest)
    if osp.isfile(str(src)):
        info['source_sha256'] = sha256(src, 'source sha256')
    return info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', required=True, help='vizattn/timm model name, e.g. biformer_s')
    p.add_argument('src', help="original checkpoint file, its URL, or 'released'")
    p.add_argument('dst', nargs='?', help='output .safetensors (default <model>.safetensors)')
    p.add_argument('--use-ema', action='store_true', help='take the EMA weights of the file')
    args = p.parse_args(argv)
    info = convert(args.model, args.src, args.dst, args.use_ema)
    print(json.dumps(info, indent=2))
    return info


if __name__ == '__main__':
    main()
