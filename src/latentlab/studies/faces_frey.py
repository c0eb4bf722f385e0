"""The faces study on the Frey faces (28×20, used at their native size): `latentlab study faces-frey`."""

from functools import partial

from latentlab.studies import faces
from latentlab.studies.base import study

run = study("faces-frey", faces.BUDGETS)(partial(faces.body, dataset="frey_faces"))
