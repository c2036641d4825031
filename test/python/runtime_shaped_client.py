"""A stand-in for the Asya Python runtime's side of the wire protocol.

It sends what the runtime sends for each file operation (spec/protocol.md,
"Compatibility with the Python runtime"): Python's own http.client over the Unix
socket, one connection per operation, keys unencoded, and it raises the exceptions
the runtime raises for each status. Run by python-runtime-compat.test.ts, which
checks the JSON this prints.
"""
import errno
import http.client
import json
import socket
import sys


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")  # no timeout, as the runtime
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


SOCKET = sys.argv[1]


def call(method, key_path, body=None, headers=None, encode_chunked=False):
    conn = UnixConnection(SOCKET)
    try:
        conn.request(method, key_path, body=body, headers=headers or {}, encode_chunked=encode_chunked)
        res = conn.getresponse()
        data = res.read()
        return res.status, dict((k.lower(), v) for k, v in res.getheaders()), data
    finally:
        conn.close()


def raise_for(status, data):
    if status < 400:
        return
    try:
        message = json.loads(data)["message"]
    except Exception:
        message = ""
    if status == 400:
        raise ValueError(message)
    if status == 403:
        raise PermissionError(message)
    if status == 404:
        raise FileNotFoundError(message)
    if status == 409:
        raise FileExistsError(message)
    if status == 413:
        raise OSError(errno.EFBIG, message)
    if status == 503:
        raise ConnectionError(message)
    if status == 504:
        raise TimeoutError(message)
    raise OSError(message)


def write(key, data, exclusive=False):  # open(p, "w"/"wb"/"x") ... close()
    headers = {"If-None-Match": "*"} if exclusive else {}
    status, _, body = call("PUT", "/keys/" + key, body=data, headers=headers)
    raise_for(status, body)


def write_passthrough(key, chunks):  # passthrough mount: chunked PUT
    status, _, body = call("PUT", "/keys/" + key, body=iter(chunks),
                           headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    raise_for(status, body)


def read(key):  # open(p, "r"/"rb")
    status, headers, body = call("GET", "/keys/" + key)
    raise_for(status, body)
    return body, headers


def stat(key):  # os.stat / exists / isfile / isdir / getsize
    status, headers, body = call("HEAD", "/keys/" + key)
    if status == 404:
        raise FileNotFoundError(key)
    raise_for(status, body)
    return int(headers["content-length"]), headers["x-is-file"] == "true"


def exists(key):
    try:
        stat(key)
        return True
    except FileNotFoundError:
        return False


def listdir(key):  # os.listdir
    prefix = key + "/" if key else ""
    status, _, body = call("GET", "/keys/?prefix=" + prefix + "&delimiter=/")
    raise_for(status, body)
    listing = json.loads(body)
    names = [k[len(prefix):] for k in listing["keys"]]
    names += [p[len(prefix):].rstrip("/") for p in listing["prefixes"]]
    return sorted(names)


def remove(key):  # os.remove
    status, _, body = call("DELETE", "/keys/" + key)
    raise_for(status, body)


def getxattr(key, name):
    status, _, body = call("GET", "/meta/" + key + "?attr=" + name[len("user.asya."):])
    if status == 400:
        raise OSError(errno.ENODATA, "no such attribute")
    raise_for(status, body)
    return json.loads(body)["value"]


def listxattr(key):
    status, _, body = call("GET", "/meta/" + key)
    raise_for(status, body)
    return ["user.asya." + a for a in json.loads(body)["attrs"]]


def setxattr(key, name, value):
    status, _, body = call("PUT", "/meta/" + key + "?attr=" + name[len("user.asya."):],
                           body=json.dumps({"value": value}), headers={"Content-Type": "application/json"})
    if status == 400:
        raise OSError(errno.ENODATA, "no such attribute")
    raise_for(status, body)


def query(request):  # POST /query, as Asya's component tests call it
    status, _, body = call("POST", "/query", body=json.dumps(request), headers={"Content-Type": "application/json"})
    raise_for(status, body)
    answer = json.loads(body)
    return [answer["rows"], answer["total"]]


def outcome(fn):
    try:
        return {"ok": fn()}
    except Exception as e:  # the exception class is what the test checks
        return {"raised": type(e).__name__, "errno": getattr(e, "errno", None)}


results = {}
results["write"] = outcome(lambda: write("cache/result.json", b'{"count": 1}'))
results["read"] = outcome(lambda: read("cache/result.json")[0].decode())
results["read_has_length"] = outcome(lambda: "content-length" in read("cache/result.json")[1])
results["exclusive_new"] = outcome(lambda: write("cache/lock", b"1", exclusive=True))
results["exclusive_existing"] = outcome(lambda: write("cache/lock", b"2", exclusive=True))
results["passthrough"] = outcome(lambda: write_passthrough("stream/big.bin", [b"a" * 70000, b"b" * 70000, b"c"]))
results["passthrough_read"] = outcome(lambda: len(read("stream/big.bin")[0]))
results["stat_file"] = outcome(lambda: stat("cache/result.json"))
results["stat_dir"] = outcome(lambda: stat("cache"))
results["stat_root"] = outcome(lambda: stat(""))
results["stat_missing"] = outcome(lambda: stat("cache/nothing"))
results["exists_missing"] = outcome(lambda: exists("cache/nothing"))
results["listdir_root"] = outcome(lambda: listdir(""))
results["listdir_cache"] = outcome(lambda: listdir("cache"))
results["read_missing"] = outcome(lambda: read("cache/nothing"))
results["read_bad_key"] = outcome(lambda: read("cache/../etc"))
results["listxattr"] = outcome(lambda: listxattr("cache/result.json"))
results["getxattr_url"] = outcome(lambda: getxattr("cache/result.json", "user.asya.url"))
results["setxattr_type"] = outcome(lambda: setxattr("cache/result.json", "user.asya.content_type", "application/json"))
results["getxattr_type"] = outcome(lambda: getxattr("cache/result.json", "user.asya.content_type"))
results["getxattr_unknown"] = outcome(lambda: getxattr("cache/result.json", "user.asya.colour"))
results["setxattr_readonly"] = outcome(lambda: setxattr("cache/result.json", "user.asya.generation", "1"))
results["query_all"] = outcome(lambda: query({"prefix": "cache/"}))
results["query_filter"] = outcome(lambda: query({"prefix": "cache/", "filter": {"count": "1"}, "sort": ["-count"], "limit": 0, "offset": 0}))
results["query_bad_field"] = outcome(lambda: query({"filter": {"a b": 1}}))
results["remove"] = outcome(lambda: remove("cache/result.json"))
results["remove_missing"] = outcome(lambda: remove("cache/result.json"))
results["read_removed"] = outcome(lambda: read("cache/result.json"))
print(json.dumps(results))
