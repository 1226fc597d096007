"""Everything about fitting a torch network: the skorch net, batch feeding, callbacks that know
where they are in a run (learning-rate schedule, weight averaging, early stopping, the snapshot
an epoch cut short is rolled back to), checkpoints that belong to one fit, and the runtime
(device, seeded generators, threads, subnormals).

The estimators in :mod:`mpcl_sklearn.models` build their ``nn.Module``, wrap it with
:func:`~mpcl_sklearn.training.net.build_net` and train it with
:func:`~mpcl_sklearn.training.run.prepare_run` and :func:`~mpcl_sklearn.training.run.train`
(a warm start carries the run over with :func:`~mpcl_sklearn.training.run.continue_from`);
nothing here knows about a particular model.
"""
