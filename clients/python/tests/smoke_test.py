"""Smoke test of the Python client against a real `liverec serve` (127.0.0.1, a free port, a
temporary data directory), and of its 429 retry against a scripted HTTP server.

Usage: python3 clients/python/tests/smoke_test.py path/to/liverec
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from liverec import Client, LiverecError  # noqa: E402

BINARY = ""


class RealServerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.data_dir = tempfile.TemporaryDirectory(prefix="liverec-py-test-")
        self.server = subprocess.Popen(
            [BINARY, "serve", "--host", "127.0.0.1", "--port", "0",
             "--data-dir", self.data_dir.name],
            stdout=subprocess.PIPE, text=True)
        assert self.server.stdout is not None
        for line in self.server.stdout:
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                break
        else:
            self.fail("liverec serve exited before listening")

    def tearDown(self) -> None:
        self.server.terminate()
        self.server.wait()
        if self.server.stdout:
            self.server.stdout.close()
        self.data_dir.cleanup()

    def test_events_recommendations_similar_and_items(self) -> None:
        client = Client(self.url)
        result = client.events(
            [{"user": "ann", "item": "dune"},
             {"user": "bob", "item": "dune"},
             {"user": "bob", "item": "arrival", "type": "purchase"},
             {"user": "bob", "item": "solaris"}],
            wait="learned")
        self.assertEqual(result["accepted"], 4)
        self.assertEqual(client.put_item("arrival", categories=["drama"]), {"item": "arrival"})
        recs = client.recommendations("ann", k=5)
        self.assertEqual(sorted(i["item"] for i in recs["items"]), ["arrival", "solaris"])
        recs = client.recommendations("ann", k=5, exclude=["arrival"])
        self.assertEqual([i["item"] for i in recs["items"]], ["solaris"])
        self.assertEqual(client.recommendations("ann", k=5, exclude=[], category=None)["items"],
                         client.recommendations("ann", k=5)["items"])
        recs = client.recommendations("ann", k=5, category="drama,scifi")
        self.assertEqual([i["item"] for i in recs["items"]], ["arrival"])
        page = client.recommendations("ann", k=1, offset=1)
        full = client.recommendations("ann", k=2)
        self.assertEqual(page["items"], full["items"][1:])
        similar = client.similar("dune", k=3)
        self.assertIn("arrival", [i["item"] for i in similar["items"]])
        self.assertEqual(client.stats()["events_accepted"], 4)
        self.assertEqual(client.user("bob")["num_events"], 3)
        deletion = client.delete_user("bob")
        self.assertEqual(deletion["state"], "pending")
        self.assertEqual(client.deletion(deletion["deletion"], wait_ms=60000)["state"], "complete")
        with self.assertRaises(LiverecError) as caught:
            client.user("bob")
        self.assertEqual(caught.exception.status, 404)

    def test_errors_name_the_field(self) -> None:
        client = Client(self.url)
        result = client.events([{"user": "ann", "itme": "dune"}])
        self.assertEqual(result["accepted"], 0)
        self.assertEqual(result["rejected"][0]["field"], "itme")
        with self.assertRaises(LiverecError) as caught:
            client.similar("nothing")
        self.assertEqual((caught.exception.status, caught.exception.code), (404, "not_found"))
        with self.assertRaises(LiverecError) as caught:
            client.recommendations("ann", k=0)
        self.assertTrue(caught.exception.message.startswith("k: "))


class ScriptedHandler(http.server.BaseHTTPRequestHandler):
    """Answers 429 with Retry-After: 2 to the first POST, then an ingest result."""

    posts = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts += 1
        if type(self).posts == 1:
            body = b'{"error":{"code":"overloaded","message":"queue full"}}'
            self.send_response(429)
            self.send_header("Retry-After", "2")
        else:
            body = json.dumps({"accepted": 1, "duplicates": 0, "last_seq": 1,
                               "rejected": []}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class RetryTest(unittest.TestCase):
    def test_a_429_is_sent_again_after_retry_after(self) -> None:
        server = http.server.HTTPServer(("127.0.0.1", 0), ScriptedHandler)
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            waits: list[float] = []
            client = Client(f"http://127.0.0.1:{server.server_address[1]}", sleep=waits.append)
            self.assertEqual(client.events([{"user": "u", "item": "i"}])["accepted"], 1)
            self.assertEqual(waits, [2.0])
            self.assertEqual(ScriptedHandler.posts, 2)
        finally:
            server.shutdown()
            thread.join()
            server.server_close()


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main()
