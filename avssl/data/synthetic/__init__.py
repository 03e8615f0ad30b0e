"""Synthetic media written as real encoded files with exact ground truth.

- `timing`: clips whose frames show their own index and whose audio clicks at each flash (decoding tests).
- `scene`: moving textured objects of K classes with class sounds and silent distractors (learning tests).
- `layouts`: scenes written in the benchmarks' own on-disk layouts (`avssl synth`).
"""
