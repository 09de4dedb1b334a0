"""Experiments made of the project's steps: the end-to-end demo (:mod:`.demo`) and the Multi30k
reproduction (:mod:`.multi30k`, tables and plot by :mod:`.report`).

Each step of the HAT pipeline is one function of :mod:`.steps`, shared by both; :mod:`.stages` runs each
stage of an experiment once and skips it on a rerun. Everything is written under a work folder given by
the caller; nothing refers to a checkout of this project.
"""
