"""Shared checkpoint handling: safe unpickling, unwrapping, key checks, the released-weights manifest."""
import argparse
import collections
import os
import pickle

import pytest
import timm
import torch

from vizattn.models._builder import released_weights
from vizattn.models._checkpoint import CheckpointError, check_state_dict, load_checkpoint_file, unwrap_state_dict


class ArbitraryCode:
    """A pickled object whose unpickling would run code: must be refused, never executed."""

    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/vizattn_pwned',))


def test_training_script_extras_load(tmp_path):
    sd = {'w': torch.ones(2)}
    path = tmp_path / 'ckpt.pth'
    torch.save({'model': sd, 'args': argparse.Namespace(lr=1.0), 'max_accuracy': 81.4, 'epoch': 3}, path)
    assert torch.equal(load_checkpoint_file(str(path))['w'], sd['w'])


def test_arbitrary_code_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'model': {'w': torch.ones(1)}, 'payload': ArbitraryCode()}, path)
    with pytest.raises(CheckpointError, match='evil.pth'):
        load_checkpoint_file(str(path))
    assert not os.path.exists('/tmp/vizattn_pwned')


def test_unwrap_variants():
    sd = {'a.weight': torch.zeros(1)}
    assert unwrap_state_dict({'model': sd}) == sd
    assert unwrap_state_dict({'state_dict': {'module.a.weight': sd['a.weight']}}) == sd
    assert unwrap_state_dict({'meta': {}, 'state_dict': sd}) == sd
    ema = {'a.weight': torch.ones(1)}
    assert unwrap_state_dict({'model': sd, 'state_dict_ema': ema}, use_ema=True) == ema
    with pytest.raises(CheckpointError, match='no state_dict'):
        unwrap_state_dict({'optimizer': {'lr': 1}})


def test_check_state_dict_names_keys():
    model = torch.nn.Sequential(collections.OrderedDict(fc=torch.nn.Linear(2, 3)))
    with pytest.raises(CheckpointError, match=r'missing 1 keys: fc.bias.*unexpected 1 keys: fc.b'):
        check_state_dict({'fc.weight': torch.zeros(3, 2), 'fc.b': torch.zeros(3)}, model)
    with pytest.raises(CheckpointError, match=r'shape mismatches: fc.weight \(3, 3\) vs model \(3, 2\)'):
        check_state_dict({'fc.weight': torch.zeros(3, 3), 'fc.bias': torch.zeros(3)}, model)


def test_missing_file_is_named():
    with pytest.raises(CheckpointError, match='not found: /nonexistent.pth'):
        load_checkpoint_file('/nonexistent.pth')
    with pytest.raises(CheckpointError, match='/nonexistent.pth'):
        timm.create_model('biformer_t', pretrained=True, pretrained_cfg_overlay=dict(file='/nonexistent.pth'))


def test_manifest_entries_are_registered_models():
    entries = released_weights()
    assert entries
    names = set(timm.list_pretrained())
    for key, entry in entries.items():
        assert key in names, key
        assert (entry.get('url') or entry.get('hf_hub_id')) and entry['file_name'] and 'format' in entry


def test_release_download_uses_manifest_file_name(tmp_path, monkeypatch):
    """Release URLs that all end in 'content' are cached under the manifest's file names, then loaded."""
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
    ref = timm.create_model('biformer_t')
    fetched = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        fetched.append((url, os.path.basename(dst)))
        torch.save({'model': ref.state_dict(), 'epoch': 1}, dst)

    monkeypatch.setattr(torch.hub, 'download_url_to_file', fake_download)
    model = timm.create_model('biformer_t', pretrained=True)
    entry = released_weights()['biformer_t.in1k']
    assert fetched == [(entry['url'], 'biformer_tiny_in1k.pth')]
    for k, v in model.state_dict().items():
        assert torch.equal(v, ref.state_dict()[k]), k
