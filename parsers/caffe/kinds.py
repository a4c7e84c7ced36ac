"""Record kinds of Caffe log lines: small ints, used in numpy arrays by the scanners."""

from __future__ import annotations

K_NONE = 0  # not a record: a glog line we do not use, or a non-glog line
K_F = 1  # [Forward] ... (train net, or test net when it follows "Testing net")
K_B = 2  # [Backward] Layer ...
K_A = 3  # [Backward] All net params (data, diff): ...
K_U = 4  # [Update] Layer L, param P data: x; diff: y
K_U1 = 5  # [Update] Layer L, param blob P (owned by ...) diff: y
K_BADKEY = 6  # looked like a debug line, but is not one Caffe prints
K_L = 7  # Iteration N (...), loss = X   /   Iteration N, loss = X
K_LR = 8  # Iteration N, lr = X
K_TRO = 9  # Train net output #k: name = X
K_T = 10  # Iteration N, Testing net (#k)
K_TO = 11  # Test net output #k: name = X  /  Test score #k: X  /  Test loss: X
K_TI = 12  # Test interrupted.
K_C = 13  # Gradient clipping: scaling down gradients (L2 norm X > C) ...
K_RUN = 14  # Solving / Restoring / Resuming / Optimization Done / fatal line: run boundary
K_SKIP = 15  # a line skipped because its bytes are not UTF-8
K_TF = 16  # (derived) a test-net [Forward] line
