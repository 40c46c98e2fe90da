"""A peer of `jigsync run` as a Python user would write it: watchdog's observer (inotify) and the
official SDK (jigsawstack==0.4.6), four uploads in flight like jigsync's default workers.

Each file closed after writing, moved in, or found in a new directory, is read and uploaded with
key = its path relative to FOLDER, overwrite on. Failures are printed and left behind.
Usage: python watchdog_sdk.py FOLDER   (environment: JIGSAWSTACK_API_URL, JIGSAWSTACK_API_KEY)
"""
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from jigsawstack import JigsawStack
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

WORKERS = 4


class Uploader(FileSystemEventHandler):
    def __init__(self, root: str) -> None:
        self.root = root
        self.client = JigsawStack()   # reads JIGSAWSTACK_API_KEY and JIGSAWSTACK_API_URL
        self.pool = ThreadPoolExecutor(max_workers=WORKERS)

    def on_closed(self, event) -> None:   # IN_CLOSE_WRITE: a writer closed the file
        if not event.is_directory:
            self.pool.submit(self.upload, event.src_path)

    def on_created(self, event) -> None:
        # A new directory is watched only once it exists: files written into it before that send
        # no close event. The watch is in place when this runs, so what the directory holds now
        # is uploaded here and anything later arrives as a close (some files go up twice).
        if event.is_directory:
            for directory, _, names in os.walk(event.src_path):
                for name in names:
                    self.pool.submit(self.upload, os.path.join(directory, name))

    def on_moved(self, event) -> None:
        if not event.is_directory:
            self.pool.submit(self.upload, event.dest_path)

    def upload(self, path: str) -> None:
        key = os.path.relpath(path, self.root)
        try:
            with open(path, "rb") as f:
                data = f.read()
            self.client.store.upload(data, {"key": key, "overwrite": True})
        except Exception as error:   # keep watching; report what was lost
            print(f"upload failed: {key}: {error}", file=sys.stderr, flush=True)


def main() -> int:
    root = os.path.abspath(sys.argv[1])
    observer = Observer()
    observer.schedule(Uploader(root), root, recursive=True)
    observer.start()
    print("watching", root, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    observer.stop()
    observer.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
