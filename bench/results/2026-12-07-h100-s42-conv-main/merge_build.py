"""Session 42 probe helper: DIR = main's kernels/build with the probe's fatbins and manifest entries over it (the probe
was built --only for bf16 / f16 d = 64, 128, 256), so that check.py and the suites find every head dim."""
import json, os, shutil, sys
main, probe, out = sys.argv[1:4]
shutil.copytree(main, out, dirs_exist_ok=True)
for f in os.listdir(probe):
    if f.endswith('.fatbin'):
        shutil.copy(os.path.join(probe, f), os.path.join(out, f))
m = json.load(open(os.path.join(main, 'manifest.json')))
p = json.load(open(os.path.join(probe, 'manifest.json')))
files = {k['file'] for k in p['kernels']}
m['kernels'] = [k for k in m['kernels'] if k['file'] not in files] + p['kernels']
json.dump(m, open(os.path.join(out, 'manifest.json'), 'w'), indent=1)
print(f'{out}: {len(m["kernels"])} kernels, {len(files)} probe fatbins')
