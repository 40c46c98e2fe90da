"""Drives the official JigsawStack Python SDK (jigsawstack==0.4.6) against the emulator.

Usage: sdk_peer.py upload FILE KEY CONTENT_TYPE | get KEY OUT | delete KEY
The SDK reads JIGSAWSTACK_API_KEY and JIGSAWSTACK_API_URL from the environment, as jigsync does.
Prints the SDK's answer as JSON on standard output; exits non-zero on any SDK error.
"""
import json
import sys

from jigsawstack import JigsawStack


def main() -> int:
    client = JigsawStack()
    command = sys.argv[1]
    if command == "upload":
        path, key, content_type = sys.argv[2], sys.argv[3], sys.argv[4]
        with open(path, "rb") as f:
            data = f.read()
        answer = client.store.upload(
            data,
            {"key": key, "overwrite": True, "content_type": content_type, "temp_public_url": True},
        )
        print(json.dumps(answer))
    elif command == "get":
        key, out = sys.argv[2], sys.argv[3]
        body = client.store.get(key)
        content = body if isinstance(body, (bytes, bytearray)) else body.content
        with open(out, "wb") as f:
            f.write(content)
        print(json.dumps({"bytes": len(content)}))
    elif command == "delete":
        print(json.dumps(client.store.delete(sys.argv[2])))
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
