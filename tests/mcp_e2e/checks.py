"""Named checks with one summary line per part: `<part>: N passed, M failed` (run.sh adds them up)."""
import base64
import json


class Checks:
    def __init__(self, part: str) -> None:
        self.part = part
        self.passed = 0
        self.failed = 0

    def check(self, name: str, condition: object, detail: object = "") -> bool:
        if condition:
            self.passed += 1
            print(f"  ok    {name}", flush=True)
        else:
            self.failed += 1
            print(f"  FAIL  {name} {detail}", flush=True)
        return bool(condition)

    def summary(self) -> int:
        print(f"{self.part}: {self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0


def jwt_claims(token: str) -> dict:
    """The payload of a JWT, unverified (the resource server verifies through introspection)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
