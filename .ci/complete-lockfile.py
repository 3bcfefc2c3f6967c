#!/usr/bin/env python3
# The npm registry mirror this project is built against lacks some platform builds of optional dependencies
# (Biome, Rollup); npm then leaves them out of package-lock.json and `npm ci` refuses the lock as out of sync.
# This adds an entry for every optional dependency the lock misses, marked with the os/cpu/libc its name
# names, so `npm ci` skips it on other platforms. Run after `npm install`: python3 .ci/complete-lockfile.py .
import json, os, sys
root=sys.argv[1]
lock=json.load(open(os.path.join(root,'package-lock.json')))
pk=lock['packages']
OS={'android','darwin','linux','win32','freebsd','openbsd','openharmony'}
CPU={'arm64','x64','arm','ia32','loong64','ppc64','riscv64','s390x'}
added=[]
for path,meta in list(pk.items()):
    opt=meta.get('optionalDependencies') or {}
    for name,ver in opt.items():
        key='node_modules/'+name
        if key in pk: continue
        parts=name.split('/')[-1].replace('cli-','').replace('rollup-','').split('-')
        os_=[p for p in parts if p in OS]
        cpu=[p for p in parts if p in CPU]
        entry={'version':ver,'optional':True}
        if meta.get('dev'): entry['dev']=True
        if os_: entry['os']=os_
        if cpu: entry['cpu']=cpu
        if 'musl' in parts: entry['libc']=['musl']
        elif os_==['linux']: entry['libc']=['glibc']
        pk[key]=entry
        added.append(name)
lock['packages']=dict(sorted(pk.items(), key=lambda kv: (kv[0]!='', kv[0])))
json.dump(lock, open(os.path.join(root,'package-lock.json'),'w'), indent=2)
open(os.path.join(root,'package-lock.json'),'a').write('\n')
print(len(added), added[:5])
