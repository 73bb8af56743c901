"""Training: the language model (TBPTT) and the classifiers, on Chainer's Trainer."""
