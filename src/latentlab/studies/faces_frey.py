"""The faces study on the Frey faces (28×20, used at their native size): `latentlab study faces-frey`."""

from functools import partial

from latentlab.studies import faces

run = partial(faces.run, dataset="frey_faces")
