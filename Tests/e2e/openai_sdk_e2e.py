"""End-to-end check of Switchyard with the official `openai` Python package.

Run by SwitchyardServerTests/OpenAISDKTests against the built `switchyard` binary, which is configured with:
  gpt-e2e  -> provider "broken" (always 503) then provider "good" (a fake OpenAI upstream)
  gpt-cut  -> a fake upstream whose stream breaks after two chunks
  demo     -> the built-in echo provider
Environment: SWITCHYARD_BASE_URL (e.g. http://127.0.0.1:1234/v1), SWITCHYARD_KEY.
"""

import os

import openai
from openai import OpenAI

from checks import check, report

base_url = os.environ["SWITCHYARD_BASE_URL"]
key = os.environ["SWITCHYARD_KEY"]
client = OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)


# Models
models = [model.id for model in client.models.list()]
check(models == ["gpt-e2e", "gpt-cut", "demo"], f"models listed in config order, got {models}")

# Non-stream chat, served by the second provider after the first fails.
reply = client.chat.completions.create(model="gpt-e2e", messages=[{"role": "user", "content": "hi"}])
check(reply.choices[0].message.content == "Hello from upstream", f"chat content, got {reply!r}")
check(reply.usage is not None and reply.usage.total_tokens == 12, f"usage, got {reply.usage!r}")

# Streamed chat: chunks arrive and join to the full answer; no usage chunk unless asked.
chunks = list(client.chat.completions.create(
    model="gpt-e2e", messages=[{"role": "user", "content": "hi"}], stream=True))
text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
check(text == "Hello from upstream", f"streamed text, got {text!r}")
check(all(chunk.usage is None for chunk in chunks), "no usage chunk when the client did not ask")
check(chunks[-1].choices[0].finish_reason == "stop", "finish reason on the last chunk")

# Streamed chat with usage requested.
chunks = list(client.chat.completions.create(
    model="gpt-e2e", messages=[{"role": "user", "content": "hi"}], stream=True,
    stream_options={"include_usage": True}))
check(chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 7, "usage chunk when asked")

# A stream that breaks mid-way must raise, never end quietly.
received = ""
try:
    for chunk in client.chat.completions.create(
            model="gpt-cut", messages=[{"role": "user", "content": "hi"}], stream=True):
        if chunk.choices:
            received += chunk.choices[0].delta.content or ""
    check(False, "a broken stream ended without an error")
except openai.APIError as error:
    check("upstream" in str(error).lower(), f"error names the upstream failure, got {error}")
check(received == "Hello", f"content before the break was delivered, got {received!r}")

# The echo provider: chat, stream, completions, embeddings.
echo = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "echo me"}])
check(echo.choices[0].message.content == "echo me", "echo chat")
streamed = "".join(chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
    model="demo", messages=[{"role": "user", "content": "stream me too"}], stream=True) if chunk.choices)
check(streamed == "stream me too", f"echo stream, got {streamed!r}")
completion = client.completions.create(model="demo", prompt="complete me")
check(completion.choices[0].text == "complete me", "echo completion")
embeddings = client.embeddings.create(model="demo", input=["a", "b"])
check(len(embeddings.data) == 2 and len(embeddings.data[0].embedding) == 8, "echo embeddings")

# Errors come back as the SDK's typed exceptions.
try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    check(False, "unknown model accepted")
except openai.NotFoundError as error:
    check(error.code == "model_not_found", f"model_not_found code, got {error.code}")

try:
    OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
    check(False, "wrong key accepted")
except openai.AuthenticationError as error:
    check(error.code == "invalid_api_key", f"invalid_api_key code, got {error.code}")

print(f"openai {openai.__version__}")
report()
