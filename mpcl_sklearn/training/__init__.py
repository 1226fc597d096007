"""Everything about fitting a torch network: the skorch net, batch feeding, callbacks that know
where they are in a run (learning-rate schedule, weight averaging, early stopping, random
state), checkpoints that belong to one fit, and the runtime (device, threads, subnormals).

The estimators in :mod:`mpcl_sklearn.models` build their ``nn.Module`` and hand it to
:func:`~mpcl_sklearn.training.run.fit_run`; nothing here knows about a particular model.
"""
