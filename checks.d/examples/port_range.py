"""Site policy example: embedding servers must listen on a port in 30000-30099.

Drop-in checks are plain Python files with a ``register(registry)`` function. They get the registry
instance to add to (no globals), and the same Context/Outcome API as the built-in checks.
Copy this file into ./checks.d, /etc/qwen-doctor/checks.d or a --checks-dir directory and adapt it.
"""

from qwen_doctor.results import Fix, Outcome, Status

LOW, HIGH = 30000, 30099


def register(registry):
    def applies(target):
        return True if target.port is not None else "no port known"

    @registry.check("site.port-range", f"Port within the site range {LOW}-{HIGH}", "site", applies=applies, severity=Status.FAIL)
    def port_range(ctx):
        """What it checks: the server port is inside this site's range for embedding servers (30000-30099).

        Why it matters: the load balancers and firewall rules of this site only open that range.

        How to fix: pass --port with a value in the range.
        """
        port = ctx.target.port
        if LOW <= port <= HIGH:
            return Outcome.passed(f"port {port} is in {LOW}-{HIGH}", port=port)
        fix = Fix(f"Use a port in {LOW}-{HIGH}.")
        if ctx.target.launch is not None:
            fix = Fix(f"Use a port in {LOW}-{HIGH}.", launch_command=ctx.target.launch.edited(set_options={"--port": str(LOW)}))
        return Outcome.fail(f"port {port} is outside the site range {LOW}-{HIGH}", fix, port=port)
