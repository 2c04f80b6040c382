"""End-to-end check of Switchyard's /v1/messages with the official `anthropic` Python package.

Run by SwitchyardServerTests/NativeSDKTests against the built `switchyard` binary, configured with:
  claude-native -> provider "overloaded" (an Anthropic upstream answering 529) then "native" (a fake Anthropic upstream)
  claude-openai -> a fake OpenAI upstream (requests and answers translated), which calls a tool when given tools
  claude-echo   -> the built-in echo provider
Environment: SWITCHYARD_BASE_URL (e.g. http://127.0.0.1:1234), SWITCHYARD_KEY.
"""

import os

import anthropic

from checks import check, report

base_url = os.environ["SWITCHYARD_BASE_URL"]
key = os.environ["SWITCHYARD_KEY"]
client = anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0, timeout=30)


weather_tool = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}

# An Anthropic provider, after the first one is overloaded: the answer comes back exactly as Anthropic sent it.
message = client.messages.create(
    model="claude-native", max_tokens=64, system="Be brief.", messages=[{"role": "user", "content": "hi"}]
)
check(message.content[0].text == "Hello from Anthropic", f"native text, got {message!r}")
check(message.usage.input_tokens == 11 and message.usage.cache_read_input_tokens == 3, f"native usage, got {message.usage!r}")
check(message.model == "claude-upstream", f"the upstream's own answer, got {message.model}")

with client.messages.stream(
    model="claude-native", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
) as stream:
    text = "".join(stream.text_stream)
    final = stream.get_final_message()
check(text == "Hello from Anthropic", f"native stream text, got {text!r}")
check(final.stop_reason == "end_turn" and final.usage.output_tokens == 5, f"native stream end, got {final!r}")

# An OpenAI provider behind /v1/messages: tools round trip, non-stream then stream.
first = client.messages.create(
    model="claude-openai", max_tokens=64, tools=[weather_tool],
    messages=[{"role": "user", "content": "Weather in Paris?"}],
)
check(first.stop_reason == "tool_use", f"translated tool call stop reason, got {first.stop_reason}")
tool_use = next(block for block in first.content if block.type == "tool_use")
check(tool_use.name == "get_weather" and tool_use.input == {"city": "Paris"}, f"tool use, got {tool_use!r}")
second = client.messages.create(
    model="claude-openai", max_tokens=64, tools=[weather_tool],
    messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "20C"}]},
    ],
)
check(second.content[0].text == "It is 20C in Paris", f"answer after the tool result, got {second!r}")
check(second.stop_reason == "end_turn", f"translated stop reason, got {second.stop_reason}")
check(second.usage.input_tokens == 20 and second.usage.output_tokens == 6, f"translated usage, got {second.usage!r}")

with client.messages.stream(
    model="claude-openai", max_tokens=64, tools=[weather_tool],
    messages=[{"role": "user", "content": "Weather in Paris?"}],
) as stream:
    events = [event.type for event in stream]
    final = stream.get_final_message()
check(events[0] == "message_start" and "message_stop" in events, f"translated stream events, got {events}")
streamed_tool = next(block for block in final.content if block.type == "tool_use")
check(streamed_tool.input == {"city": "Paris"}, f"streamed tool input, got {streamed_tool!r}")
check(final.stop_reason == "tool_use", f"streamed stop reason, got {final.stop_reason}")

with client.messages.stream(
    model="claude-openai", max_tokens=64, messages=[{"role": "user", "content": "Say hello"}]
) as stream:
    text = "".join(stream.text_stream)
    final = stream.get_final_message()
check(text == "Hello from OpenAI", f"translated stream text, got {text!r}")
check(final.usage.output_tokens == 4, f"translated stream usage, got {final.usage!r}")

# The built-in echo provider, through the translation.
echo = client.messages.create(model="claude-echo", max_tokens=64, messages=[{"role": "user", "content": "echo me"}])
check(echo.content[0].text == "echo me", f"echo through /v1/messages, got {echo!r}")

# Token counting: asked of the Anthropic provider, estimated otherwise.
counted = client.messages.count_tokens(model="claude-native", messages=[{"role": "user", "content": "hi"}])
check(counted.input_tokens == 42, f"count_tokens from the Anthropic provider, got {counted!r}")
estimated = client.messages.count_tokens(model="claude-echo", messages=[{"role": "user", "content": "hello there"}])
check(estimated.input_tokens > 0, f"estimated count_tokens, got {estimated!r}")

# Errors in Anthropic's shape.
try:
    client.messages.create(model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    check(False, "an unknown model is an error")
except anthropic.NotFoundError as error:
    check(error.body["error"]["type"] == "not_found_error", f"not_found_error, got {error.body!r}")
try:
    anthropic.Anthropic(base_url=base_url, api_key="wrong", max_retries=0).messages.create(
        model="claude-echo", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    )
    check(False, "a wrong key is an error")
except anthropic.AuthenticationError as error:
    check(error.body["error"]["type"] == "authentication_error", f"authentication_error, got {error.body!r}")
try:
    client.messages.create(model="claude-echo", max_tokens=8, messages="not a list")
    check(False, "a malformed request is an error")
except anthropic.BadRequestError as error:
    check(error.body["type"] == "error", f"invalid_request_error, got {error.body!r}")

report()
