"""Pure functions on torch modules: Hessian traces, quantizers, bit allocation, proxies."""
