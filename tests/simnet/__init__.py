"""A simulated internet for tests and demos: a fake Hugging Face Hub and CDN, fake OpenAI
and Anthropic APIs, a PyPI index and a paste site, each a local HTTP(S) server on
127.0.0.1. ``SimNet.world_hosts`` is the World mapping real host names to them."""

from .files import make_parquet, make_safetensors, make_wheel, pattern_sha256, pattern_stream
from .hub import FakeHub, HubRepo
from .net import HOSTS, SimNet
from .server import Req, Resp, Service, ranged

__all__ = ["HOSTS", "FakeHub", "HubRepo", "Req", "Resp", "Service", "SimNet", "make_parquet", "make_safetensors",
           "make_wheel", "pattern_sha256", "pattern_stream", "ranged"]
