"""One file per selector; each turns harness ``Query`` objects into tensors for a model.

The built-in selectors are declared as entry points (group ``stickerbench.selectors``) in
``pyproject.toml``, exactly as a plugin declares its own; importing this package imports no
model code.
"""
