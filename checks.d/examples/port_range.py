"""Site policy example: embedding servers must listen on a port in 30000-30099.

Drop-in checks are plain Python files with a ``register(registry)`` function. They import only from
``qwen_doctor.plugin`` (the public, versioned API), declare checks with ``@check`` and hand them to the
registry instance they are given (no globals). Copy this file into a checks.d directory and adapt it.
"""

from qwen_doctor.plugin import Outcome, Status, check

LOW, HIGH = 30000, 30099


def _has_port(ctx):
    return True if ctx.target.port is not None else "no port known"


@check("site.port-range", f"Port within the site range {LOW}-{HIGH}", applies=_has_port, severity=Status.FAIL)
def port_range(ctx):
    """What it checks: the server port is inside this site's range for embedding servers (30000-30099).

    Why it matters: the load balancers and firewall rules of this site only open that range.

    How to fix: pass --port with a value in the range.
    """
    port = ctx.target.port
    if LOW <= port <= HIGH:
        return Outcome.passed(f"port {port} is in {LOW}-{HIGH}", port=port)
    fix = ctx.relaunch.fix(f"Use a port in {LOW}-{HIGH}.", set_options={"--port": str(LOW)})
    return Outcome.fail(f"port {port} is outside the site range {LOW}-{HIGH}", fix, port=port)


def register(registry):
    registry.add_checks(port_range)
