import pytest
import torch

from pyg_kgc.training import (
    fit,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)


def make(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3),
                                torch.nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    return model, optimizer


def epoch_fn(model, optimizer):
    def train_epoch(epoch):
        x = torch.randn(16, 4)  # global RNG, as the examples use it
        loss = (model(x).squeeze(-1) - x.sum(-1)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return train_epoch


def validator(model):
    x = torch.linspace(-1, 1, 16).view(4, 4)
    return lambda: -(model(x).squeeze(-1) - x.sum(-1)).pow(2).mean().item()


def test_resume_is_exact(tmp_path):
    path = str(tmp_path / 'ckpt.pt')
    seed_everything(1)
    model, optimizer = make()
    straight = fit(model, optimizer, epoch_fn(model, optimizer), epochs=6,
                   validate=validator(model), eval_every=2, progress=False)
    expected = [p.detach().clone() for p in model.parameters()]

    seed_everything(1)
    model, optimizer = make()
    fit(model, optimizer, epoch_fn(model, optimizer), epochs=4,
        validate=validator(model), eval_every=2, checkpoint=path,
        progress=False)
    torch.randn(100)  # anything in between must not matter
    model, optimizer = make(seed=123)  # fresh objects, other weights
    resumed = fit(model, optimizer, epoch_fn(model, optimizer), epochs=6,
                  validate=validator(model), eval_every=2, checkpoint=path,
                  progress=False)
    assert resumed.losses == straight.losses
    assert resumed.metrics == straight.metrics
    assert resumed.best_epoch == straight.best_epoch
    for a, b in zip(model.parameters(), expected):
        assert torch.equal(a, b)


def test_progress_bar_keeps_best_and_its_interval(capsys):
    model, optimizer = make()
    metrics = iter([0.1, 0.5, 0.3])
    fit(model, optimizer, epoch_fn(model, optimizer), epochs=60,
        validate=lambda: next(metrics), eval_every=20, progress=True)
    err = capsys.readouterr().err
    # The last validation and the best one so far stay on the bar ...
    assert 'valid=0.3000' in err and 'best=0.5000 @40' in err
    # ... and the bar is not redrawn at every epoch: 60 fast epochs fall
    # within tqdm's default interval of 0.1 s a few times at most.
    assert err.count('epochs:') < 30


def test_early_stopping_restores_best():
    model, optimizer = make()
    metrics = iter([0.1, 0.5, 0.3, 0.2, 0.9])
    snapshots = {}

    def validate():
        snapshots[len(snapshots) +
                  1] = [p.detach().clone() for p in model.parameters()]
        return next(metrics)

    history = fit(model, optimizer, epoch_fn(model, optimizer), epochs=10,
                  validate=validate, patience=2, progress=False)
    assert history.stopped_early and history.best_epoch == 2
    assert [e for e, _ in history.losses] == [1, 2, 3, 4]
    assert history.best_metric == 0.5
    for a, b in zip(model.parameters(), snapshots[2]):
        assert torch.equal(a, b)


def test_checkpoint_round_trip(tmp_path):
    model, optimizer = make()
    epoch_fn(model, optimizer)(1)
    save_checkpoint(str(tmp_path / 'c.pt'), model, optimizer, note='x')
    state = torch.get_rng_state()
    torch.randn(10)
    other, other_opt = make(seed=5)
    extra = load_checkpoint(str(tmp_path / 'c.pt'), other, other_opt)
    assert extra == {'note': 'x'}
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)
    assert str(optimizer.state_dict()) == str(other_opt.state_dict())


def test_resume_restores_extra_state(tmp_path):
    # A learning-rate scheduler driven by validation: its state (best value,
    # bad epochs, reduced rate) must survive the restart for an exact resume.
    path = str(tmp_path / 'ckpt.pt')

    def run(epochs, checkpoint, seed=0):
        model, optimizer = make(seed)
        # mode='min' on a rising metric: the rate is halved often.
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode='min', factor=0.5, patience=0)
        base = validator(model)

        def validate():
            metric = base()
            scheduler.step(metric)
            return metric

        history = fit(model, optimizer, epoch_fn(model, optimizer), epochs,
                      validate, eval_every=1, checkpoint=checkpoint,
                      progress=False, state={'scheduler': scheduler})
        return history, scheduler, optimizer

    seed_everything(2)
    straight, scheduler, optimizer = run(6, str(tmp_path / 'straight.pt'))
    seed_everything(2)
    run(3, path)
    resumed, scheduler2, optimizer2 = run(6, path, seed=7)
    assert resumed.losses == straight.losses
    assert resumed.metrics == straight.metrics
    assert scheduler2.state_dict() == scheduler.state_dict()
    lr = optimizer.param_groups[0]['lr']
    assert optimizer2.param_groups[0]['lr'] == lr
    assert lr < 0.01  # the rate was reduced, so the test can fail
    # A checkpoint without the expected state is refused by name.
    model, optimizer = make()
    with pytest.raises(ValueError, match=r"\['scheduler'\], expected \[\]"):
        fit(model, optimizer, epoch_fn(model, optimizer), 6, None,
            checkpoint=path, progress=False)


def test_checkpoint_keeps_the_live_optimizers_implementation(tmp_path):
    # A run saved with the default Adagrad and resumed with the fused one
    # (or the reverse) keeps the resuming process's choice, with the saved
    # state (accumulators, steps, learning rate) loaded.
    path = str(tmp_path / 'c.pt')
    for saved_flags, live_flags in (({}, {
            'fused': True
    }), ({
            'fused': True
    }, {
            'foreach': False
    })):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        optimizer = torch.optim.Adagrad(model.parameters(), lr=0.3,
                                        **saved_flags)
        model(torch.randn(4, 3)).square().sum().backward()
        optimizer.step()
        save_checkpoint(path, model, optimizer)
        other = torch.nn.Linear(3, 2)
        other_opt = torch.optim.Adagrad(other.parameters(), lr=0.1,
                                        **live_flags)
        load_checkpoint(path, other, other_opt)
        group = other_opt.param_groups[0]
        assert group['lr'] == 0.3  # the saved hyper-parameters
        for key in ('fused', 'foreach'):
            assert group[key] == live_flags.get(key), key
        for p, q in zip(model.parameters(), other.parameters()):
            torch.testing.assert_close(other_opt.state[q]['sum'],
                                       optimizer.state[p]['sum'])


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_loss_stops_before_the_checkpoint(bad, tmp_path):
    path = str(tmp_path / 'ckpt.pt')
    model, optimizer = make()
    train = epoch_fn(model, optimizer)
    validated = []

    def train_epoch(epoch):
        loss = train(epoch)
        if epoch == 3:  # the weights diverge during epoch 3
            with torch.no_grad():
                model[0].weight.fill_(bad)
            return bad
        return loss

    def validate():
        validated.append(all(bool(p.isfinite().all())
                             for p in model.parameters()))
        return 0.0

    with pytest.raises(FloatingPointError, match=r"epoch 3 is (nan|inf).*"
                       r"holds the state after epoch 2"):
        fit(model, optimizer, train_epoch, epochs=6, validate=validate,
            eval_every=1, checkpoint=path, progress=False)
    assert validated == [True, True]  # epoch 3 was neither validated ...
    other, other_opt = make(seed=5)
    extra = load_checkpoint(path, other, other_opt)  # ... nor saved
    assert extra['epoch'] == 2
    assert all(bool(p.isfinite().all()) for p in other.parameters())


def test_non_finite_loss_without_checkpoint():
    model, optimizer = make()
    with pytest.raises(FloatingPointError, match='epoch 1 is nan') as info:
        fit(model, optimizer, lambda epoch: float('nan'), epochs=2,
            progress=False)
    assert 'holds' not in str(info.value)
