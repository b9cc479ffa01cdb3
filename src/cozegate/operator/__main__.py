"""``python -m cozegate.operator``: print the CozeBot CRD as YAML (how deploy/crd/cozebot.yaml is made)."""

from cozegate.operator.crd import render_yaml

print(render_yaml(), end="")
