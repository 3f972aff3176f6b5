"""Write the bundled generated datasets (coloured shapes, no download) into data/shapes/.

    python tools/make_data.py [--root data/shapes] [--tasks cls det seg] [--force]

ImageNet-style class folders (cls/), COCO instance json (coco/), ADE20K-style masks (ade/); see
vizattn/data/scenes.py. tools/train.py and tools/test.py run this on first use of a config that names it.
"""
import argparse
import time

from vizattn.data import DEFAULT_ROOT, prepare_default_data


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', default=DEFAULT_ROOT)
    p.add_argument('--tasks', nargs='+', default=['cls', 'det', 'seg'], choices=['cls', 'det', 'seg'])
    p.add_argument('--force', action='store_true', help='rewrite even if the data is there')
    args = p.parse_args()
    t0 = time.time()
    for task, path in prepare_default_data(args.root, args.tasks, force=args.force).items():
        print(f'{task}: {path}')
    print(f'done in {time.time() - t0:.1f}s')


if __name__ == '__main__':
    main()
