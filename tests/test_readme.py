r"""CI runs exactly the commands the README gives."""
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def ci_commands():
    with open(osp.join(ROOT, '.ci', 'run')) as f:
        lines = [line.strip() for line in f]
    start = lines.index('# >>> README commands')
    end = lines.index('# <<< README commands')
    return [line for line in lines[start + 1:end]
            if line and not line.startswith('#')]


def test_ci_runs_the_readme_commands():
    with open(osp.join(ROOT, 'README.md')) as f:
        readme = f.read()
    commands = ci_commands()
    assert len(commands) == 3  # install, main job, tests
    for command in commands:
        assert f'\n{command}\n' in readme, command
