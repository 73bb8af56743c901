"""interpretable_adv: AdvT, iAdvT and SPGD adversarial training for text (Chainer).

A reproduction of Barham & Feizi (2019), "Interpretable Adversarial Training for
Text", built on the pipeline of Sato et al. (2018, iAdvT-Text). Importing the
package has no side effects; Chainer is imported only by the modules that need it.
"""

__version__ = "0.1.0"
