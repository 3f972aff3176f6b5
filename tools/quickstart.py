"""End-to-end check of a backbone on generated data: create, train a few steps, evaluate, save, reload.

    python tools/quickstart.py [--model biformer_t] [--steps 60] [--work-dir work_dirs/quickstart]

Trains on coloured shapes (vizattn.data.shapes, no download), prints top-1 on a held-out split against
chance, saves the weights as safetensors and reloads them through timm's ``pretrained_cfg_overlay``.
"""
import argparse
import json
import os
import time

import timm
import torch
from safetensors.torch import save_file

import vizattn  # noqa: F401
from vizattn.data import SHAPE_CLASSES, make_shapes_classification


@torch.no_grad()
def evaluate(model, images, labels, batch_size=64):
    model.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        correct += (model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum().item()
    return 100.0 * correct / len(images)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default='biformer_t')
    p.add_argument('--steps', type=int, default=120)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--img-size', type=int, default=64)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--work-dir', default='work_dirs/quickstart')
    args = p.parse_args()
    torch.manual_seed(0)
    os.makedirs(args.work_dir, exist_ok=True)

    train_x, train_y = make_shapes_classification(args.steps * args.batch_size, args.img_size, seed=0)
    val_x, val_y = make_shapes_classification(256, args.img_size, seed=1)
    model = timm.create_model(args.model, num_classes=len(SHAPE_CLASSES), drop_path_rate=0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    before = evaluate(model, val_x, val_y)
    model.train()
    t0 = time.time()
    for step in range(args.steps):
        xb = train_x[step * args.batch_size:(step + 1) * args.batch_size]
        yb = train_y[step * args.batch_size:(step + 1) * args.batch_size]
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 10 == 0 or step == args.steps - 1:
            print(f'step {step:4d}/{args.steps}  loss {loss.item():.4f}  {time.time() - t0:.0f}s', flush=True)
    top1 = evaluate(model, val_x, val_y)

    path = os.path.join(args.work_dir, f'{args.model}.safetensors')
    save_file(model.state_dict(), path)
    reloaded = timm.create_model(args.model, pretrained=True, num_classes=len(SHAPE_CLASSES),
                                 pretrained_cfg_overlay=dict(file=path, num_classes=len(SHAPE_CLASSES)))
    top1_reloaded = evaluate(reloaded, val_x, val_y)
    result = dict(model=args.model, steps=args.steps, top1_before=before, top1=top1,
                  top1_reloaded=top1_reloaded, chance=100.0 / len(SHAPE_CLASSES), checkpoint=path,
                  train_seconds=round(time.time() - t0, 1))
    with open(os.path.join(args.work_dir, 'result.json'), 'w') as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    if top1_reloaded != top1:
        raise SystemExit('reloaded checkpoint evaluates differently')


if __name__ == '__main__':
    main()
