"""Distil a CLEAR (local-window attention) classifier from its full-attention ViT/DeiT, with mmengine.

    python tools/distill_clear.py --data DIR [--val-data DIR] [--model deit_tiny_patch16_224]
        [--checkpoint FILE | --pretrained] [--radius 4] [--shape disc] [--down-factor 0] [--img-size 224]
        [--iters 1000] [--batch-size 32] [--lr 1e-4] [--work-dir work_dirs/distill_clear]
    # a self-contained demo on generated shapes (no download), teacher first trained on the labels:
    python tools/distill_clear.py --data /tmp/shapes/train --val-data /tmp/shapes/val --make-shapes 512 \\
        --img-size 64 --radius 2 --teacher-warmup-iters 150 --iters 60

The CLEAR recipe (arXiv:2412.16112, official distill.py), for a classifier:
- teacher: the full-attention model (timm's ``--model``), frozen;
- student: the same weights in ``clear_<model>`` (CLEAR attention), where only the attention projections
  ``attn.qkv`` / ``attn.proj`` (and the pooling weights ``attn.spatial_weight`` with ``--down-factor``) train;
- loss: ``--logit-weight`` x KL(teacher || student) on the logits (temperature ``--temperature``) +
  ``--attn-weight`` x MSE between the attention outputs of the student and the teacher in every
  ``--attn-every``-th block (+ ``--ce-weight`` x cross-entropy with the folder labels, 0 by default).
Data: any ImageFolder-style directory (one sub-folder per class; the labels are only used by ``--ce-weight``
and the reported accuracies). Training runs in an mmengine ``Runner`` (``ClearDistiller`` model wrapper,
AdamW, cosine schedule, LoggerHook progress and ``WORK_DIR/<time>/<time>.log``, a CheckpointHook for
``--resume``). Before and after training the validation set is scored by ``AgreementMetric``: top-1 agreement
of student and teacher, their accuracies and the mean KL. Results go to ``WORK_DIR/summary.json``, the student
to ``WORK_DIR/clear_student.safetensors`` (loads with ``timm.create_model('clear_<model>', pretrained=True,
pretrained_cfg_overlay=dict(file=...))`` and the same ``--radius``/``--down-factor``).
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

import timm  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmengine.evaluator import BaseMetric, Evaluator  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.model import BaseModel  # noqa: E402
from mmengine.optim import OptimWrapper  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import vizattn  # noqa: E402,F401

TRAINABLE = ('.attn.qkv.', '.attn.proj.', '.attn.spatial_weight')


class ClearDistiller(BaseModel):
    """mmengine model wrapper: a frozen full-attention teacher and its CLEAR student.

    ``forward(inputs, labels, mode)``: 'loss' returns the distillation losses, 'predict' a list of dicts
    (student/teacher logits, label) for ``AgreementMetric``, 'tensor' the student logits.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, logit_weight: float = 0.5,
                 attn_weight: float = 0.5, ce_weight: float = 0., temperature: float = 1., attn_every: int = 1):
        super().__init__()
        self.teacher = teacher.eval().requires_grad_(False)
        self.student = student
        for name, p in student.named_parameters():
            p.requires_grad_(any(t in f'.{name}' for t in TRAINABLE))
        self.logit_weight, self.attn_weight, self.ce_weight = logit_weight, attn_weight, ce_weight
        self.temperature = temperature
        self._captured: Dict[str, List[torch.Tensor]] = {'teacher': [], 'student': []}
        if attn_weight > 0:
            for role, model in (('teacher', teacher), ('student', student)):
                for i, blk in enumerate(model.blocks):
                    if i % attn_every == attn_every - 1 or i == len(model.blocks) - 1:
                        blk.attn.register_forward_hook(self._capture(role))

    def _capture(self, role: str):
        def hook(module, args, output):
            self._captured[role].append(output)
        return hook

    def init_weights(self):
        # mmengine's Runner calls init_weights() before training, which would reach timm's
        # VisionTransformer.init_weights() and re-initialise both models: the weights are already loaded.
        pass

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()
        return self

    def _run(self, inputs: torch.Tensor):
        for v in self._captured.values():
            v.clear()
        with torch.no_grad():
            t_logits = self.teacher(inputs)
        s_logits = self.student(inputs)
        t_attn, s_attn = list(self._captured['teacher']), list(self._captured['student'])
        for v in self._captured.values():
            v.clear()
        return s_logits, t_logits, s_attn, t_attn

    def forward(self, inputs: torch.Tensor, labels: Optional[torch.Tensor] = None, mode: str = 'tensor'):
        if mode == 'tensor':
            return self.student(inputs)
        if mode == 'predict':
            with torch.no_grad():
                s_logits, t_logits = self.student(inputs), self.teacher(inputs)
            for v in self._captured.values():
                v.clear()
            return [dict(student=s.float().cpu(), teacher=t.float().cpu(), label=int(y))
                    for s, t, y in zip(s_logits, t_logits, labels)]
        s_logits, t_logits, s_attn, t_attn = self._run(inputs)
        T = self.temperature
        losses = {}
        if self.logit_weight > 0:
            kl = F.kl_div(F.log_softmax(s_logits.float() / T, -1), F.log_softmax(t_logits.float() / T, -1),
                          log_target=True, reduction='batchmean')
            losses['loss_logit'] = self.logit_weight * kl * T * T
        if self.attn_weight > 0:
            mse = sum(F.mse_loss(s.float(), t.float()) for s, t in zip(s_attn, t_attn)) / max(len(s_attn), 1)
            losses['loss_attn'] = self.attn_weight * mse
        if self.ce_weight > 0 and labels is not None:
            losses['loss_ce'] = self.ce_weight * F.cross_entropy(s_logits, labels)
        return losses


class AgreementMetric(BaseMetric):
    """Top-1 agreement of student and teacher (%), their accuracies on the folder labels (%), mean KL."""
    default_prefix = 'distill'

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        s = torch.stack([r['student'] for r in results])
        t = torch.stack([r['teacher'] for r in results])
        y = torch.tensor([r['label'] for r in results])
        kl = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction='batchmean')
        return dict(top1_agreement=100.0 * (s.argmax(1) == t.argmax(1)).float().mean().item(),
                    student_top1=100.0 * (s.argmax(1) == y).float().mean().item(),
                    teacher_top1=100.0 * (t.argmax(1) == y).float().mean().item(),
                    kl=kl.item(), count=len(results))


def write_shapes(folder: str, n: int, size: int, seed: int):
    """Write ``n`` generated shape images (vizattn.data.make_shapes_classification) as class folders of PNGs."""
    from PIL import Image

    from vizattn.data import SHAPE_CLASSES, make_shapes_classification
    images, labels = make_shapes_classification(n, size, seed=seed)
    for c in SHAPE_CLASSES:
        os.makedirs(osp.join(folder, c), exist_ok=True)
    for i, (img, y) in enumerate(zip(images, labels)):
        arr = (img.permute(1, 2, 0).numpy() * 255).round().astype('uint8')
        Image.fromarray(arr).save(osp.join(folder, SHAPE_CLASSES[int(y)], f'{i:05d}.png'))


def build_loaders(args, mean, std):
    from torchvision import datasets, transforms
    norm = transforms.Normalize(mean, std)
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(args.img_size, scale=(0.6, 1.0), antialias=True),
        transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm])
    val_tf = transforms.Compose([transforms.Resize(args.img_size, antialias=True),
                                 transforms.CenterCrop(args.img_size), transforms.ToTensor(), norm])
    train_set = datasets.ImageFolder(args.data, train_tf)
    val_set = datasets.ImageFolder(args.val_data or args.data, val_tf)
    g = torch.Generator().manual_seed(args.seed)
    train = torch.utils.data.DataLoader(train_set, args.batch_size, shuffle=True, drop_last=len(train_set) >=
                                        args.batch_size, num_workers=args.workers, generator=g)
    val = torch.utils.data.DataLoader(val_set, args.batch_size, shuffle=False, num_workers=args.workers)
    return train, val, len(train_set.classes)


def warmup_teacher(teacher: nn.Module, loader, iters: int, lr: float, logger: MMLogger, device):
    """Train the full-attention teacher on the folder labels (demo without pretrained weights)."""
    teacher.to(device).train()
    opt = torch.optim.AdamW(teacher.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=iters, pct_start=0.1)
    step, t0 = 0, time.time()
    while step < iters:
        for x, y in loader:
            loss = F.cross_entropy(teacher(x.to(device)), y.to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 25 == 0 or step == iters:
                logger.info(f'teacher warm-up {step}/{iters}  loss {loss.item():.4f}  {time.time() - t0:.0f}s')
            if step == iters:
                break
    teacher.eval()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='training image folder (one sub-folder per class)')
    p.add_argument('--val-data', help='validation image folder (default: --data)')
    p.add_argument('--make-shapes', type=int, default=0, metavar='N',
                   help='first write N generated shape images into --data (and N/4 into --val-data)')
    p.add_argument('--model', default='deit_tiny_patch16_224', help="timm ViT/DeiT name; the student is 'clear_' + it")
    p.add_argument('--model-args', default='{}', help='JSON dict of extra model arguments for both, e.g. {"depth": 4}')
    p.add_argument('--checkpoint', help='teacher weights (timm/DeiT file); default: random init or --pretrained')
    p.add_argument('--pretrained', action='store_true', help="download the teacher's released weights")
    p.add_argument('--num-classes', type=int, help='classifier size (default: the checkpoint\'s, else the folder\'s)')
    p.add_argument('--radius', type=float, default=4.0)
    p.add_argument('--shape', default='disc', choices=['disc', 'square'])
    p.add_argument('--down-factor', type=int, default=0, help='CLEAR down-sampled K/V tokens (0: none, 4: paper)')
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--iters', type=int, default=1000)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--lr', type=float, default=1e-4)
    p.add_argument('--weight-decay', type=float, default=0.0)
    p.add_argument('--logit-weight', type=float, default=0.5)
    p.add_argument('--attn-weight', type=float, default=0.5)
    p.add_argument('--ce-weight', type=float, default=0.0)
    p.add_argument('--temperature', type=float, default=1.0)
    p.add_argument('--attn-every', type=int, default=1, help='distil the attention output of every k-th block')
    p.add_argument('--teacher-warmup-iters', type=int, default=0,
                   help='first train the teacher on the labels for this many iterations (demo without weights)')
    p.add_argument('--teacher-lr', type=float, default=1e-3)
    p.add_argument('--log-interval', type=int, default=10)
    p.add_argument('--workers', type=int, default=0)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--resume', action='store_true', help='continue from the newest checkpoint in --work-dir')
    p.add_argument('--work-dir', default='work_dirs/distill_clear')
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    os.makedirs(args.work_dir, exist_ok=True)
    if args.make_shapes:
        write_shapes(args.data, args.make_shapes, args.img_size, seed=args.seed)
        if args.val_data:
            write_shapes(args.val_data, max(args.make_shapes // 4, 8), args.img_size, seed=args.seed + 1)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    logger = MMLogger.get_instance(f'distill_clear:{osp.abspath(args.work_dir)}',
                                   log_file=osp.join(args.work_dir, 'distill_clear.log'))

    model_args = dict(json.loads(args.model_args), img_size=args.img_size)
    weights = dict(pretrained=True, pretrained_cfg_overlay=dict(file=args.checkpoint)) if args.checkpoint else \
        dict(pretrained=args.pretrained)
    cfg = timm.get_pretrained_cfg(args.model)
    mean, std = (cfg.mean, cfg.std) if cfg is not None else ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    train_loader, val_loader, folder_classes = build_loaders(args, mean, std)
    has_weights = bool(args.checkpoint or args.pretrained)
    num_classes = args.num_classes or (None if has_weights else folder_classes)
    if num_classes:
        model_args['num_classes'] = num_classes
    teacher = timm.create_model(args.model, **weights, **model_args)
    if args.teacher_warmup_iters:
        warmup_teacher(teacher, train_loader, args.teacher_warmup_iters, args.teacher_lr, logger, device)
    student = timm.create_model('clear_' + args.model, radius=args.radius, window_shape=args.shape,
                                down_factor=args.down_factor, num_classes=teacher.num_classes,
                                **{k: v for k, v in model_args.items() if k != 'num_classes'})
    missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
    if unexpected or any('spatial_weight' not in k for k in missing):
        raise RuntimeError(f'teacher and student do not match: missing {missing}, unexpected {unexpected}')

    distiller = ClearDistiller(teacher, student, args.logit_weight, args.attn_weight, args.ce_weight,
                               args.temperature, args.attn_every)
    trainable = [p for p in student.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in trainable)
    logger.info(f'teacher {args.model}, student clear_{args.model} (radius {args.radius}, {args.shape}, '
                f'down_factor {args.down_factor}): {n_train / 1e6:.3f}M of '
                f'{sum(p.numel() for p in student.parameters()) / 1e6:.3f}M parameters train')
    optim = OptimWrapper(torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay),
                         clip_grad=dict(max_norm=1.0))
    runner = Runner(
        model=distiller, work_dir=args.work_dir, experiment_name='distill_clear',
        train_dataloader=train_loader, val_dataloader=val_loader, val_evaluator=Evaluator(AgreementMetric()),
        train_cfg=dict(by_epoch=False, max_iters=args.iters, val_begin=args.iters + 1),  # val: below
        val_cfg=dict(), optim_wrapper=optim,
        param_scheduler=[dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                              end=max(args.iters // 10, 1)),
                         dict(type='CosineAnnealingLR', by_epoch=False, begin=max(args.iters // 10, 1),
                              end=args.iters, eta_min=args.lr * 0.01)],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=args.log_interval),
                           checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=args.iters,
                                           max_keep_ckpts=1)),
        resume=args.resume, randomness=dict(seed=args.seed), default_scope='mmengine')
    before = runner.val()
    runner.logger.info(f'before distillation: {before}')
    runner.train()
    after = runner.val()
    runner.logger.info(f'after distillation: {after}')
    path = osp.join(args.work_dir, 'clear_student.safetensors')
    save_file({k: v.detach().cpu().contiguous() for k, v in student.state_dict().items()}, path)
    summary = dict(model=args.model, radius=args.radius, shape=args.shape, down_factor=args.down_factor,
                   img_size=args.img_size, iters=args.iters, trainable_params=n_train,
                   before={k.split('/')[-1]: v for k, v in before.items()},
                   after={k.split('/')[-1]: v for k, v in after.items()}, student=path)
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    runner.logger.info(f"top-1 agreement student/teacher: {summary['before']['top1_agreement']:.1f}% before, "
                       f"{summary['after']['top1_agreement']:.1f}% after {args.iters} iterations")
    return summary


if __name__ == '__main__':
    main()
