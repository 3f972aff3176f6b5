"""The user tools: get_flops, convert_checkpoint, analyze_logs, browse_dataset, visualize_attention, export_onnx,
and the generated datasets in their real formats."""
import argparse
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
FIX = osp.join(ROOT, 'tests', 'fixtures')
torch.set_num_threads(1)


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory):
    from vizattn.data import prepare_default_data
    root = str(tmp_path_factory.mktemp('shapes'))
    prepare_default_data(root, sizes=dict(cls=(16, 8), det=(12, 6), seg=(8, 4)))
    return root


def test_generated_formats(shapes_root):
    from pycocotools.coco import COCO
    from vizattn.data import SEG_CLASSES, SHAPE_CLASSES
    for split, n in (('train', 16), ('val', 8)):
        files = [f for c in SHAPE_CLASSES for f in os.listdir(osp.join(shapes_root, 'cls', split, c))]
        assert len(files) == n
    coco = COCO(osp.join(shapes_root, 'coco', 'annotations', 'instances_train.json'))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(SHAPE_CLASSES)
    anns = coco.loadAnns(coco.getAnnIds())
    assert anns and all(a['area'] > 0 and a['segmentation'] and len(a['bbox']) == 4 for a in anns)
    for a in anns:  # masks (RLE) and boxes agree exactly
        m = coco.annToMask(a)
        x, y, w, h = a['bbox']
        ys, xs = np.nonzero(m)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x, y, x + w, y + h) and m.sum() == a['area']
    import cv2
    seg = cv2.imread(osp.join(shapes_root, 'ade', 'annotations', 'training', '000000.png'), cv2.IMREAD_UNCHANGED)
    assert seg.dtype == np.uint8 and set(np.unique(seg)) <= set(range(1, len(SEG_CLASSES) + 1))
    # idempotent: a second call does not rewrite
    from vizattn.data import prepare_default_data
    stamp = os.path.getmtime(osp.join(shapes_root, 'coco', 'annotations', 'instances_train.json'))
    prepare_default_data(shapes_root, sizes=dict(cls=(16, 8), det=(12, 6), seg=(8, 4)))
    assert os.path.getmtime(osp.join(shapes_root, 'coco', 'annotations', 'instances_train.json')) == stamp


@pytest.mark.parametrize('config', ['configs/det/retinanet_van-b0_fpn_shapes.py', 'configs/seg/fpn_van-b0_shapes.py',
                                    'configs/cls/van-b0_shapes-cls.py'])
def test_browse_dataset(tmp_path, shapes_root, config):
    import cv2

    import browse_dataset
    task = 'coco/' if '/det/' in config else 'ade' if '/seg/' in config else 'cls'
    out = browse_dataset.main([osp.join(ROOT, config), '--num', '4', '--out', str(tmp_path / 'b.png'),
                               '--cfg-options', f'train_dataloader.dataset.data_root={osp.join(shapes_root, task)}',
                               'generated_data=None'])
    img = cv2.imread(out)
    assert img is not None and img.shape[0] > 32


def test_get_flops_config_and_model(capsys):
    import get_flops
    res = get_flops.main(['--model', 'van_b0'])
    assert abs(res['macs'] / 1e9 - 0.88) < 0.1  # VAN-B0: 0.9 GFLOPs (MACs) in the paper
    res = get_flops.main([osp.join(ROOT, 'configs/det/retinanet_van-b0_fpn_shapes.py'), '--shape', '128', '128',
                          '--compare-mmengine'])
    assert res['macs'] > res['backbone_macs'] > 0
    assert 'FLOPs (MACs)' in capsys.readouterr().out


def test_get_flops_counts_attention():
    """BiFormer's attention goes through SDPA: count_macs counts it, the backbone total matches the paper."""
    import get_flops
    res = get_flops.main(['--model', 'biformer_t'])
    assert abs(res['macs'] / 1e9 - 2.2) < 0.15


def test_convert_checkpoint(tmp_path):
    import convert_checkpoint
    import timm

    from tests.synthetic import synthetic_tensor
    fixture = torch.load(osp.join(FIX, 'biformer', 'biformer_t.pt'), weights_only=True)
    sd = {n: synthetic_tensor(n, tuple(s), getattr(torch, d)) for n, s, d in fixture['keys']}
    src = tmp_path / 'biformer_tiny_in1k.pth'
    torch.save({'model': sd, 'epoch': 1, 'args': argparse.Namespace(lr=1.0)}, src)
    dst = tmp_path / 'out' / 'biformer_t.safetensors'
    info = convert_checkpoint.main(['--model', 'biformer_t', str(src), str(dst)])
    import hashlib
    assert info['sha256'] == hashlib.sha256(dst.read_bytes()).hexdigest()
    assert (tmp_path / 'out' / 'biformer_t.safetensors.sha256').read_text().startswith(info['sha256'])
    a = timm.create_model('biformer_t', pretrained=True, pretrained_cfg_overlay=dict(file=str(src))).eval()
    b = timm.create_model('biformer_t', pretrained=True, pretrained_cfg_overlay=dict(file=str(dst))).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))
    with pytest.raises(Exception, match='missing|unexpected'):
        convert_checkpoint.main(['--model', 'biformer_s', str(src), str(tmp_path / 'wrong.safetensors')])


def test_analyze_logs(tmp_path):
    import analyze_logs
    run = tmp_path / 'run' / '20260101_000000' / 'vis_data'
    run.mkdir(parents=True)
    rows = [dict(lr=1e-3, loss=2.0 - 0.1 * i, loss_cls=1.0, iter=i, step=i) for i in range(1, 11)]
    rows += [{'coco/bbox_mAP': 0.1, 'step': 1}, {'coco/bbox_mAP': 0.3, 'step': 2}]
    (run / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in rows))
    out = analyze_logs.main([str(tmp_path / 'run'), '--out', str(tmp_path / 'c.png')])
    assert osp.getsize(out) > 1000
    line = analyze_logs.summary([str(tmp_path / 'run')])[0]
    assert 'loss 1.9000 -> 1.0000' in line and 'coco/bbox_mAP last 0.3 best 0.3' in line


@pytest.mark.parametrize('model,expect', [('biformer_t', 'BiLevelRoutingAttention'), ('litv2_s', 'HiLo'),
                                          ('agent_pvt_t', 'AgentAttention')])
def test_visualize_attention(tmp_path, model, expect, capsys):
    import visualize_attention
    kwargs = ['--model-kwargs', 'n_win=4'] if model == 'biformer_t' else []
    out = visualize_attention.main(['--model', model, '--size', '128', '--point', '40', '70', '--out',
                                    str(tmp_path / 'a.png')] + kwargs)
    assert osp.getsize(out) > 1000 and expect in capsys.readouterr().out


def test_bra_panel_routes_topk_regions():
    import timm
    import visualize_attention as va

    import vizattn  # noqa: F401
    model = timm.create_model('biformer_t', n_win=4).eval()
    name, module = va._find_attention(model)[0]
    (feat,), _ = va._capture(model, module, torch.randn(1, 3, 128, 128))
    panels = va.bra_panels(module, feat, 3, 5)
    routing = panels[0][1]
    rh = feat.shape[1] // 4
    assert (routing > 0).sum() == module.topk * rh * rh or (routing > 0).sum() == (module.topk + 1) * rh * rh
    assert np.isclose(panels[1][1].max(), 1.0)


ONNX_MODELS = [('biformer_t', dict(n_win=4), True), ('agent_pvt_t', {}, True), ('litv2_s', {}, True),
               ('van_b0', {}, False), ('agent_swin_t', {}, False), ('biformer_t', dict(n_win=4), False)]


@pytest.mark.parametrize('name,kwargs,features', [
    pytest.param(n, k, f, id=f'{n}{"-features" if f else ""}', marks=[] if i < 3 else [pytest.mark.heavy])
    for i, (n, k, f) in enumerate(ONNX_MODELS)])
def test_export_onnx_matches_pytorch(tmp_path, name, kwargs, features):
    pytest.importorskip('onnxruntime')
    import export_onnx
    model = export_onnx.build(name, features, **kwargs)
    x = torch.randn(1, 3, 96, 128)
    path = str(tmp_path / 'm.onnx')
    export_onnx.export(model, x, path)
    assert export_onnx.verify(model, path, x) < 1e-4
