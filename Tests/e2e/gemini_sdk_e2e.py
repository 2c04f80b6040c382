"""End-to-end check of Switchyard's native Gemini routes with the official `google-genai` Python package.

Run by SwitchyardServerTests/NativeSDKTests against the built `switchyard` binary, configured with:
  gemini-native -> provider "exhausted" (a Gemini upstream answering 429) then "native" (a fake Gemini upstream)
  gemini-openai -> a fake OpenAI upstream (requests and answers translated), which calls a tool when given tools
Environment: SWITCHYARD_BASE_URL (e.g. http://127.0.0.1:1234), SWITCHYARD_KEY.
"""

import os

from google import genai
from google.genai import errors, types

from checks import check, report

base_url = os.environ["SWITCHYARD_BASE_URL"]
key = os.environ["SWITCHYARD_KEY"]
client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base_url, api_version="v1beta"))


reply = client.models.generate_content(model="gemini-native", contents="hi")
check(reply.text == "Hello from Gemini", f"generateContent text, got {reply!r}")
check(reply.usage_metadata.total_token_count == 9, f"usage metadata, got {reply.usage_metadata!r}")

pieces = [chunk.text for chunk in client.models.generate_content_stream(model="gemini-native", contents="hi")]
check("".join(pieces) == "Hello from Gemini", f"streamGenerateContent text, got {pieces!r}")
check(len(pieces) == 2, f"the stream arrives in its chunks, got {pieces!r}")

weather = types.FunctionDeclaration(
    name="get_weather", description="The weather in a city",
    parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}, required=["city"]),
)
called = client.models.generate_content(
    model="gemini-native", contents="Weather in Paris?",
    config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[weather])]),
)
check(called.function_calls and called.function_calls[0].name == "get_weather", f"function call, got {called!r}")
check(called.function_calls[0].args == {"city": "Paris"}, f"function call args, got {called.function_calls[0]!r}")

# An OpenAI provider behind Gemini's native API.
translated = client.models.generate_content(model="gemini-openai", contents="hi")
check(translated.text == "Hello from OpenAI", f"translated generateContent, got {translated!r}")
check(translated.usage_metadata.total_token_count == 12, f"translated usage, got {translated.usage_metadata!r}")
streamed = "".join(chunk.text or "" for chunk in client.models.generate_content_stream(model="gemini-openai", contents="hi"))
check(streamed == "Hello from OpenAI", f"translated stream, got {streamed!r}")
tool_call = client.models.generate_content(
    model="gemini-openai", contents="Weather in Paris?",
    config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[weather])]),
)
check(tool_call.function_calls and tool_call.function_calls[0].args == {"city": "Paris"}, f"translated function call, got {tool_call!r}")

names = [model.name for model in client.models.list()]
check("models/gemini-native" in names, f"models listed, got {names}")

try:
    client.models.generate_content(model="no-such-model", contents="hi")
    check(False, "an unknown model is an error")
except errors.ClientError as error:
    check(error.code == 404 and error.status == "NOT_FOUND", f"NOT_FOUND, got {error.code} {error.status}")

stranger = genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=base_url, api_version="v1beta"))
try:
    stranger.models.generate_content(model="gemini-native", contents="hi")
    check(False, "a wrong key is an error")
except errors.ClientError as error:
    check(error.code == 401 and error.status == "UNAUTHENTICATED", f"UNAUTHENTICATED, got {error.code} {error.status}")

report()
