import numpy as np, time, sys
from dnn import _loop
from threadpoolctl import threadpool_limits
rng = np.random.default_rng(0)
def make(dims, m, dtype):
    X = rng.random((m, dims[0])).astype(dtype)
    Y = (rng.random((m, dims[-1])) < 0.5).astype(dtype)
    layers = [((rng.standard_normal((dims[l], dims[l-1]))*np.sqrt(2/dims[l-1])).astype(dtype), np.zeros((dims[l],1),dtype)) for l in range(1,len(dims))]
    return X, Y, layers
for threads in (1,2):
  with threadpool_limits(threads):
    for dtype in (np.float64, np.float32):
      for b in (64, 256):
        dims=[784,256,128,64,1]; m=10000
        X,Y,layers = make(dims,m,dtype)
        res={}; loops={}
        for prod in ("blas","own","auto"):
            L=[(W.copy(),bb.copy()) for W,bb in layers]
            v=[(np.zeros_like(W),np.zeros_like(bb)) for W,bb in L]; s=[(np.zeros_like(W),np.zeros_like(bb)) for W,bb in L]
            loops[prod]=_loop.Loop(L,X,Y,hidden="relu",output="sigmoid",optimizer="adam",batch_size=b,lambd=0.0,keep=[1.0]*3,dropout_seed=0,beta=0.9,beta1=0.9,beta2=0.999,epsilon=1e-8,v=v,s=s,products=prod)
            res[prod]=[]
        order=np.arange(m)
        for r in range(4):
            for prod,lp in loops.items():
                t=time.perf_counter(); lp.epoch(order, 1e-3, 0, 0); res[prod].append(time.perf_counter()-t)
        print(threads, np.dtype(dtype).name, b, {k: round(1000*float(np.median(v[1:])),1) for k,v in res.items()}, flush=True)
