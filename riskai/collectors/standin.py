"""A local stand-in for every API the collectors use, serving bodies built from the real files.

    python -m riskai.collectors.standin --data-dir ../shared/data/btcusdt --port 8765
    RISKAI_COLLECT_BASE_URL=http://127.0.0.1:8765 riskai collect all --start 2021-01-01

It answers in each API's documented format (see riskai/collectors/binance.py and bybit_coinmetrics.py)
on one port: Binance fapi and futures/data paths, the archive's ``/data/futures/um/daily/...`` zips
and ``/data/futures/um/monthly/klines/...`` zips (a month whose last day the files hold) with their
``.CHECKSUM``, Bybit ``/v5/market/...``, Coin Metrics ``/v4/timeseries/asset-metrics`` and Deribit
``/api/v2/public/get_volatility_index_data`` (DVOL, 1D, from ``deribit_dvol_1d.csv`` where the folder
has it: the file's close, open/high/low null; paged newest first by ``continuation``).
Every value is the files' own text. What the files do not have is served as absent, never made up:
``sumOpenInterest`` (no contract series) and the hourly file's missing kline fields are empty
strings, Bybit open interest and klines are empty lists; a day with no open interest nor ratios has
no metrics file (404, like a day the archive lacks). Tests use :class:`Fault` to make it misbehave.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import threading
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

DAY_MS, HOUR_MS = 86_400_000, 3_600_000
CM_METRICS = {"AdrActCnt": "active_addresses", "AdrBalCnt": "balance_addresses", "TxCnt": "tx_count",
              "TxTfrCnt": "transfer_count", "FlowInExUSD": "exchange_inflow_usd",
              "FlowOutExUSD": "exchange_outflow_usd", "FlowInExNtv": "exchange_inflow_btc",
              "FlowOutExNtv": "exchange_outflow_btc", "SplyExNtv": "exchange_supply_btc",
              "SplyExUSD": "exchange_supply_usd", "HashRate": "hash_rate", "FeeTotNtv": "fees_btc",
              "CapMVRVCur": "mvrv", "CapMrktCurUSD": "market_cap_usd", "PriceUSD": "price_usd"}
RATIO_FILE_COLUMNS = {"globalLongShortAccountRatio": "global_account", "topLongShortAccountRatio": "top_account",
                      "topLongShortPositionRatio": "top_position"}


@dataclass
class Fault:
    """Misbehave on the next ``times`` requests whose path contains ``path``.

    ``status``/``headers``/``body`` replace the answer; ``transform`` rewrites the real body;
    ``delay`` sleeps before answering (a timeout for a client with a shorter one); ``drip_s`` sends the
    body one byte every ``drip_s`` seconds (each read is quick, the whole answer never ends in time).
    """

    path: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    transform: Callable[[bytes], bytes] | None = None
    delay: float = 0.0
    drip_s: float = 0.0
    times: int = 1
    query: dict[str, str] = field(default_factory=dict)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _ms(texts: pd.Series) -> np.ndarray:
    return (pd.to_datetime(texts).astype("datetime64[ns]").astype("int64") // 1_000_000).to_numpy()


class SymbolData:
    """One symbol's files, indexed by time in ms."""

    def __init__(self, data_dir: str | Path):
        data_dir = Path(data_dir)
        self.daily = _read(data_dir / "binance_perp_klines_1d.csv")
        self.daily_ms = _ms(self.daily["date"])
        self.hourly = _read(data_dir / "binance_perp_klines_1h.csv.gz")
        self.hourly_ms = _ms(self.hourly["open_time_utc"])
        self.mark = _read(data_dir / "binance_perp_mark_klines_1d.csv")
        self.mark_ms = _ms(self.mark["date"])
        self.funding = _read(data_dir / "binance_funding_8h.csv")
        self.funding_ms = _ms(self.funding["funding_time_utc"])
        self.bybit_funding = _read(data_dir / "bybit_funding_8h.csv")
        self.bybit_funding_ms = _ms(self.bybit_funding["funding_time_utc"])
        oi = _read(data_dir / "binance_open_interest_1d.csv")
        self.oi = oi[oi["oi_usd_close"] != ""].reset_index(drop=True)
        self.oi_ms = _ms(self.oi["date"])
        self.ratios = _read(data_dir / "binance_long_short_ratios_1d.csv")
        self.ratios_ms = _ms(self.ratios["date"])
        self.onchain = _read(data_dir / "onchain_coinmetrics_1d.csv")
        self.onchain_ms = _ms(self.onchain["date"])
        dvol = data_dir / "deribit_dvol_1d.csv"  # BTC only: another symbol's folder has no index
        self.dvol = _read(dvol) if dvol.is_file() else pd.DataFrame({"date": [], "dvol_close": []}, dtype=str)
        self.dvol_ms = _ms(self.dvol["date"])
        volume, buy = self.daily["volume_btc"].astype(float), self.daily["taker_buy_volume_btc"].astype(float)
        sell = volume - buy
        self.taker_sell = [repr(float(value)) for value in sell]
        self.taker_ratio = [repr(float(b / s)) if s > 0 else "" for b, s in zip(buy, sell)]
        self.zips: dict[str, bytes] = {}
        self.lock = threading.Lock()


def _window(stamps: np.ndarray, start: int | None, end: int | None) -> tuple[int, int]:
    lo = 0 if start is None else int(np.searchsorted(stamps, start, side="left"))
    hi = len(stamps) if end is None else int(np.searchsorted(stamps, end, side="right"))
    return lo, hi


def _zip(name: str, text: str) -> bytes:
    """A deterministic zip (fixed timestamp) holding one CSV."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, text)
    return buffer.getvalue()


class StandIn:
    """The server; ``start()`` runs it in a thread and returns its base URL."""

    deribit_page_size = 1000  # candles per Deribit answer; older ones follow by continuation

    def __init__(self, symbols: dict[str, str | Path], assets: dict[str, str] | None = None,
                 latency_s: float = 0.0):
        self.data = {symbol: SymbolData(path) for symbol, path in symbols.items()}
        self.latency_s = latency_s  # added to every answer: a network's round trip (benchmarks)
        self.assets = assets or {_asset(symbol): symbol for symbol in symbols}
        self.currencies = {_asset(symbol).upper(): symbol for symbol in symbols}  # Deribit: BTC -> BTCUSDT
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY: headers and body go out as two writes; with Nagle's algorithm the body waits
            # for the client's delayed ACK (~40 ms a request), which no real API server adds.
            disable_nagle_algorithm = True

            def do_GET(self):  # noqa: N802 - the http.server API
                standin.handle(self)

            def log_message(self, *args):  # quiet: tests and benchmarks read their own logs
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://{host}:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    # ---------------------------------------------------------------- dispatch
    def handle(self, request: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(request.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        with self.lock:
            self.requests.append((parsed.path, query))
            fault = next((f for f in self.faults if f.path in parsed.path and f.times > 0
                          and all(query.get(k) == v for k, v in f.query.items())), None)
            if fault is not None:
                fault.times -= 1
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if self.latency_s:
            time.sleep(self.latency_s)
        drip = fault.drip_s if fault is not None else 0.0
        if fault is not None and fault.status is not None:
            self._send(request, fault.status, fault.body or b"{}", fault.headers, drip)
            return
        try:
            status, body, content_type = self.route(parsed.path, query, request.headers.get("Host", ""))
        except Exception as error:  # noqa: BLE001 - a stand-in bug must show up as a 500, not a hang
            status, body, content_type = 500, json.dumps({"msg": str(error)}).encode(), "application/json"
        if fault is not None and fault.transform is not None:
            body = fault.transform(body)
        self._send(request, status, body, {"Content-Type": content_type, **(fault.headers if fault else {})}, drip)

    @staticmethod
    def _send(request, status: int, body: bytes, headers: dict[str, str], drip_s: float = 0.0) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if not drip_s:
            request.wfile.write(body)
            return
        try:
            for index in range(len(body)):
                request.wfile.write(body[index:index + 1])
                request.wfile.flush()
                time.sleep(drip_s)
        except OSError:  # the client gave up (its deadline): nothing more to send
            request.close_connection = True

    def route(self, path: str, query: dict[str, str], host: str) -> tuple[int, bytes, str]:
        if path.startswith(("/data/futures/um/daily/", "/data/futures/um/monthly/klines/")):
            return self.archive(path)
        handlers = {
            "/fapi/v1/klines": self.klines, "/fapi/v1/markPriceKlines": self.mark_klines,
            "/fapi/v1/fundingRate": self.funding, "/futures/data/openInterestHist": self.open_interest,
            "/futures/data/takerlongshortRatio": self.taker_ratio, "/v5/market/funding/history": self.bybit_funding,
            "/v5/market/open-interest": self.bybit_empty, "/v5/market/kline": self.bybit_empty,
            "/v4/timeseries/asset-metrics": lambda q: self.coinmetrics(q, host, path),
            "/api/v2/public/get_volatility_index_data": self.deribit_dvol,
        }
        for name in RATIO_FILE_COLUMNS:
            handlers[f"/futures/data/{name}"] = lambda q, name=name: self.long_short(q, name)
        if path not in handlers:
            return 404, b'{"msg": "not found"}', "application/json"
        result = handlers[path](query)
        status, payload = result if isinstance(result, tuple) else (200, result)
        return status, json.dumps(payload).encode(), "application/json"

    # ---------------------------------------------------------------- Binance REST
    def _binance_symbol(self, query) -> SymbolData | tuple[int, dict]:
        data = self.data.get(query.get("symbol", ""))
        return data if data is not None else (400, {"code": -1121, "msg": "Invalid symbol."})

    @staticmethod
    def _limit(query, default: int, maximum: int) -> int:
        return max(1, min(int(query.get("limit", default)), maximum))

    @staticmethod
    def _span(query) -> tuple[int | None, int | None]:
        start, end = query.get("startTime"), query.get("endTime")
        return (int(start) if start else None), (int(end) if end else None)

    def klines(self, query):
        data = self._binance_symbol(query)
        if isinstance(data, tuple):
            return data
        interval = query.get("interval")
        if interval not in ("1d", "1h"):
            return 400, {"code": -1120, "msg": "Invalid interval."}
        lo, hi = _window(data.daily_ms if interval == "1d" else data.hourly_ms, *self._span(query))
        hi = min(hi, lo + self._limit(query, 500, 1500))
        if interval == "1d":
            frame, stamps = data.daily, data.daily_ms
            return [[int(stamps[i]), frame["open"][i], frame["high"][i], frame["low"][i], frame["close"][i],
                     frame["volume_btc"][i], int(stamps[i]) + DAY_MS - 1, frame["quote_volume_usdt"][i],
                     int(frame["n_trades"][i]), frame["taker_buy_volume_btc"][i], frame["taker_buy_quote_usdt"][i],
                     "0"] for i in range(lo, hi)]
        frame, stamps = data.hourly, data.hourly_ms
        return [[int(stamps[i]), frame["open"][i], frame["high"][i], frame["low"][i], frame["close"][i],
                 frame["volume_btc"][i], int(stamps[i]) + HOUR_MS - 1, "", "", "", "", "0"] for i in range(lo, hi)]

    def mark_klines(self, query):
        data = self._binance_symbol(query)
        if isinstance(data, tuple):
            return data
        if query.get("interval") != "1d":
            return 400, {"code": -1120, "msg": "Invalid interval."}
        lo, hi = _window(data.mark_ms, *self._span(query))
        hi = min(hi, lo + self._limit(query, 500, 1500))
        frame, stamps = data.mark, data.mark_ms
        return [[int(stamps[i]), frame["open"][i], frame["high"][i], frame["low"][i], frame["close"][i], "0",
                 int(stamps[i]) + DAY_MS - 1, "0", 0, "0", "0", "0"] for i in range(lo, hi)]

    def funding(self, query):
        data = self._binance_symbol(query)
        if isinstance(data, tuple):
            return data
        lo, hi = _window(data.funding_ms, *self._span(query))
        hi = min(hi, lo + self._limit(query, 100, 1000))
        return [{"symbol": query["symbol"], "fundingTime": int(data.funding_ms[i]),
                 "fundingRate": data.funding["funding_rate"][i]} for i in range(lo, hi)]

    def _stats(self, query, stamps: np.ndarray):
        if query.get("period") != "1d":
            return None, (400, {"code": -1120, "msg": "the stand-in serves period=1d only"})
        lo, hi = _window(stamps, *self._span(query))
        return range(lo, min(hi, lo + self._limit(query, 30, 500))), None

    def open_interest(self, query):
        data = self._binance_symbol(query)
        if isinstance(data, tuple):
            return data
        rows, error = self._stats(query, data.oi_ms)
        return error or [{"symbol": query["symbol"], "sumOpenInterest": "",
                          "sumOpenInterestValue": data.oi["oi_usd_close"][i], "timestamp": int(data.oi_ms[i])}
                         for i in rows]

    def long_short(self, query, name: str):
        data = self._binance_symbol(query)
        if isinstance(data, tuple):
            return data
        rows, error = self._stats(query, data.ratios_ms)
        prefix = RATIO_FILE_COLUMNS[name]
        out = []
        for i in rows or []:
            ratio, share = data.ratios[f"{prefix}_long_short_ratio_mean"][i], data.ratios[f"{prefix}_long_percent_mean"][i]
            if ratio == "":
                continue
            long_share = float(share) / 100 if share else float("nan")
            out.append({"symbol": query["symbol"], "longShortRatio": ratio, "longAccount": repr(long_share),
                        "shortAccount": repr(1 - long_share), "timestamp": int(data.ratios_ms[i])})
        return error or out

    def taker_ratio(self, query):
        data = self._binance_symbol(query)
        if isinstance(data, tuple):
            return data
        rows, error = self._stats(query, data.daily_ms)
        return error or [{"buySellRatio": data.taker_ratio[i], "buyVol": data.daily["taker_buy_volume_btc"][i],
                          "sellVol": data.taker_sell[i], "timestamp": int(data.daily_ms[i])} for i in rows]

    # ---------------------------------------------------------------- Binance archive
    def archive(self, path: str) -> tuple[int, bytes, str]:
        checksum = path.endswith(".CHECKSUM")
        zip_path = path[: -len(".CHECKSUM")] if checksum else path
        parts = zip_path.split("/")  # /data/futures/um/<daily|monthly>/<kind>/<SYMBOL>/[<interval>/]<file>
        if len(parts) < 8 or parts[5] not in ("metrics", "klines"):
            return 404, b"not found", "text/plain"
        symbol = parts[6]
        data = self.data.get(symbol)
        if data is None:
            return 404, b"not found", "text/plain"
        name = parts[-1]
        with data.lock:
            if name not in data.zips:
                text = self._archive_csv(data, symbol, parts[5], parts[7] if parts[5] == "klines" else None, name,
                                         monthly=parts[4] == "monthly")
                data.zips[name] = b"" if text is None else _zip(name[:-4] + ".csv", text)
            body = data.zips[name]
        if not body:
            return 404, b"not found", "text/plain"
        if checksum:
            return 200, f"{hashlib.sha256(body).hexdigest()}  {name}\n".encode(), "text/plain"
        return 200, body, "application/zip"

    @staticmethod
    def _archive_csv(data: SymbolData, symbol: str, kind: str, interval: str | None, name: str,
                     monthly: bool = False) -> str | None:
        day = name[:-4].rsplit("-", 2 if monthly else 3)[-2 if monthly else -3:]
        try:
            first = pd.Timestamp("-".join(day))
        except ValueError:
            return None
        start = int(first.value // 1_000_000)
        # A daily file covers its day; a monthly one its calendar month, published once the month is over.
        stop = int((first + pd.offsets.MonthBegin(1)).value // 1_000_000) if monthly else start + DAY_MS
        if monthly and (kind != "klines" or not len(data.daily_ms) or data.daily_ms[-1] < stop - DAY_MS):
            return None
        if kind == "metrics":
            oi = _window(data.oi_ms, start, start)
            ratios = _window(data.ratios_ms, start, start)
            klines = _window(data.daily_ms, start, start)
            if oi[0] == oi[1] and ratios[0] == ratios[1]:
                return None
            value = data.oi["oi_usd_close"][oi[0]] if oi[0] < oi[1] else ""
            ratio = (lambda column: data.ratios[column][ratios[0]] if ratios[0] < ratios[1] else "")
            taker = data.taker_ratio[klines[0]] if klines[0] < klines[1] else ""
            create = pd.Timestamp(start + DAY_MS - 300_000, unit="ms").strftime("%Y-%m-%d %H:%M:%S")
            return ("create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
                    "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n"
                    f"{create},{symbol},,{value},{ratio('top_account_long_short_ratio_mean')},"
                    f"{ratio('top_position_long_short_ratio_mean')},{ratio('global_account_long_short_ratio_mean')},"
                    f"{taker}\n")
        header = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                  "taker_buy_quote_volume,ignore\n")
        if interval == "1d":
            lo, hi = _window(data.daily_ms, start, stop - 1)
            frame = data.daily
            lines = [f"{data.daily_ms[i]},{frame['open'][i]},{frame['high'][i]},{frame['low'][i]},{frame['close'][i]},"
                     f"{frame['volume_btc'][i]},{data.daily_ms[i] + DAY_MS - 1},{frame['quote_volume_usdt'][i]},"
                     f"{frame['n_trades'][i]},{frame['taker_buy_volume_btc'][i]},{frame['taker_buy_quote_usdt'][i]},0"
                     for i in range(lo, hi)]
        elif interval == "1h":
            lo, hi = _window(data.hourly_ms, start, stop - 1)
            frame = data.hourly
            lines = [f"{data.hourly_ms[i]},{frame['open'][i]},{frame['high'][i]},{frame['low'][i]},{frame['close'][i]},"
                     f"{frame['volume_btc'][i]},{data.hourly_ms[i] + HOUR_MS - 1},,,,,0" for i in range(lo, hi)]
        else:
            return None
        return header + "".join(line + "\n" for line in lines) if lines else None

    # ---------------------------------------------------------------- Bybit
    def bybit_funding(self, query):
        data = self.data.get(query.get("symbol", ""))
        if query.get("category") != "linear" or data is None:
            return {"retCode": 10001, "retMsg": "params error: symbol invalid", "result": {}, "retExtInfo": {},
                    "time": int(time.time() * 1000)}
        start, end = self._span(query)
        if start is not None and end is None:
            return {"retCode": 10001, "retMsg": "startTime without endTime", "result": {}, "retExtInfo": {},
                    "time": int(time.time() * 1000)}
        lo, hi = _window(data.bybit_funding_ms, start, end)
        lo = max(lo, hi - self._limit(query, 200, 200))  # the newest `limit` up to endTime, newest first
        rows = [{"symbol": query["symbol"], "fundingRate": data.bybit_funding["funding_rate"][i],
                 "fundingRateTimestamp": str(int(data.bybit_funding_ms[i]))} for i in range(hi - 1, lo - 1, -1)]
        return {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": rows}, "retExtInfo": {},
                "time": int(time.time() * 1000)}

    def bybit_empty(self, query):
        """The shared files hold no Bybit BTCUSDT open interest nor Bybit prices: an empty list."""
        return {"retCode": 0, "retMsg": "OK", "result": {"symbol": query.get("symbol", ""), "category": "linear",
                                                         "list": [], "nextPageCursor": ""},
                "retExtInfo": {}, "time": int(time.time() * 1000)}

    # ---------------------------------------------------------------- Coin Metrics
    def coinmetrics(self, query, host: str, path: str):
        asset = query.get("assets", "")
        symbol = self.assets.get(asset)
        if symbol is None:
            return 400, {"error": {"type": "bad_parameter", "message": f"Bad parameter 'assets'. Value '{asset}'"}}
        metrics = [name for name in query.get("metrics", "").split(",") if name]
        unknown = [name for name in metrics if name not in CM_METRICS]
        if not metrics or unknown:
            return 400, {"error": {"type": "bad_parameter", "message": f"Bad parameter 'metrics': {unknown}"}}
        data = self.data[symbol]
        token = query.get("next_page_token")
        start = (int(base64.urlsafe_b64decode(token.encode()).decode()) if token
                 else (int(pd.Timestamp(query["start_time"]).value // 1_000_000) if query.get("start_time") else None))
        end = int(pd.Timestamp(query["end_time"]).value // 1_000_000) if query.get("end_time") else None
        lo, hi = _window(data.onchain_ms, start, end)
        size = max(1, min(int(query.get("page_size", 100)), 10_000))
        if query.get("paging_from", "end") != "start":
            return 400, {"error": {"type": "bad_parameter", "message": "the stand-in serves paging_from=start"}}
        rows = []
        for i in range(lo, min(hi, lo + size)):
            row = {"asset": asset, "time": pd.Timestamp(int(data.onchain_ms[i]), unit="ms").strftime(
                "%Y-%m-%dT%H:%M:%S.000000000Z")}
            for name in metrics:
                value = data.onchain[CM_METRICS[name]][i]
                row[name] = value if value != "" else None
            rows.append(row)
        payload = {"data": rows}
        if lo + size < hi:
            token = base64.urlsafe_b64encode(str(int(data.onchain_ms[lo + size])).encode()).decode()
            rest = {k: v for k, v in query.items() if k != "next_page_token"}
            payload["next_page_token"] = token
            payload["next_page_url"] = (f"http://{host}{path}?"
                                        + urllib.parse.urlencode({**rest, "next_page_token": token}))
        return payload


    # ---------------------------------------------------------------- Deribit
    def deribit_dvol(self, query):
        def invalid(param: str):
            return 400, {"jsonrpc": "2.0", "error": {"message": "Invalid params", "code": -32602,
                                                     "data": {"reason": "wrong format", "param": param}},
                         "usIn": 0, "usOut": 0, "usDiff": 0, "testnet": False}

        data = self.data.get(self.currencies.get(query.get("currency", ""), ""))
        if data is None or not len(data.dvol_ms):
            return invalid("currency")
        if query.get("resolution") != "1D":
            return invalid("resolution")  # the stand-in serves daily candles only
        try:
            start, end = int(query["start_timestamp"]), int(query["end_timestamp"])
        except (KeyError, ValueError):
            return invalid("start_timestamp" if "start_timestamp" not in query else "end_timestamp")
        lo, hi = _window(data.dvol_ms, start, end)
        first = max(lo, hi - self.deribit_page_size)  # the newest candles up to end_timestamp, oldest first
        rows = [[int(data.dvol_ms[i]), None, None, None, float(data.dvol["dvol_close"][i])] for i in range(first, hi)]
        now = int(time.time() * 1_000_000)
        return {"jsonrpc": "2.0", "result": {"data": rows,
                                             "continuation": int(data.dvol_ms[first]) - 1 if first > lo else None},
                "usIn": now, "usOut": now, "usDiff": 0, "testnet": False}


def _asset(symbol: str) -> str:
    for quote in ("USDT", "USDC", "BUSD", "USD"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)].lower()
    return symbol.lower()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m riskai.collectors.standin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data/btcusdt", help="folder of the real files")
    parser.add_argument("--symbol", default="BTCUSDT", help="symbol the data folder is served as")
    parser.add_argument("--extra", action="append", default=[], metavar="SYMBOL=DIR",
                        help="another symbol served from another folder of files in the same layout")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="wait this long before every answer, like a network round trip")
    args = parser.parse_args(argv)
    symbols = {args.symbol: args.data_dir}
    for item in args.extra:
        name, _, folder = item.partition("=")
        if not folder:
            parser.error(f"--extra wants SYMBOL=DIR, got {item!r}")
        symbols[name] = folder
    standin = StandIn(symbols, latency_s=args.latency_ms / 1000)
    url = standin.start(args.host, args.port)
    print(f"stand-in serving {', '.join(symbols)} at {url}  (RISKAI_COLLECT_BASE_URL={url}); Ctrl-C stops it",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
