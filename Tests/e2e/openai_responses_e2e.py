"""End-to-end check of Switchyard's /v1/responses with the official `openai` Python package.

Run twice by SwitchyardServerTests/ResponsesSDKTests against the built `switchyard` binary, which is restarted
between the runs (SWITCHYARD_PHASE "first", then "after-restart"; SWITCHYARD_STATE names a file the first run
leaves a response id in). Models:
  resp-chat     -> provider "broken" (always 503) then "chat" (a chat-completions-only fake upstream), which
                   calls get_weather when given tools and answers "It is 20C in Paris" after the tool result
  resp-native   -> provider "native" (a fake upstream that speaks the Responses API, `responses: true`)
  resp-claude   -> provider "claude" (a fake Anthropic upstream)
Environment: SWITCHYARD_BASE_URL (e.g. http://127.0.0.1:1234/v1), SWITCHYARD_KEY.
"""

import os

import openai
from openai import OpenAI

from checks import check, report

client = OpenAI(base_url=os.environ["SWITCHYARD_BASE_URL"], api_key=os.environ["SWITCHYARD_KEY"], max_retries=0, timeout=30)
phase = os.environ["SWITCHYARD_PHASE"]
state_file = os.environ["SWITCHYARD_STATE"]

weather_tool = {
    "type": "function", "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def stream_events(**arguments):
    events = list(client.responses.create(stream=True, **arguments))
    numbers = [event.sequence_number for event in events]
    check(numbers == list(range(len(events))), f"sequence numbers count from 0, got {numbers}")
    return events


if phase == "first":
    # A chat-only provider behind /v1/responses, after the first provider fails: text, usage, instructions echoed.
    first = client.responses.create(model="resp-chat", instructions="Be brief.", input="hi")
    check(first.id.startswith("resp_") and first.object == "response", f"a response object, got {first!r}")
    check(first.status == "completed" and first.output_text == "Hello from OpenAI", f"output text, got {first!r}")
    check(first.usage.input_tokens == 5 and first.usage.output_tokens == 7 and first.usage.total_tokens == 12,
          f"usage, got {first.usage!r}")
    check(first.instructions == "Be brief.", f"instructions echoed, got {first.instructions!r}")

    # Streaming, raw events and through the SDK's accumulating helper.
    events = stream_events(model="resp-chat", input="hi")
    types = [event.type for event in events]
    check(types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed",
          f"stream opens and completes, got {types}")
    check("".join(event.delta for event in events if event.type == "response.output_text.delta") == "Hello from OpenAI",
          f"streamed deltas, got {types}")
    with client.responses.stream(model="resp-chat", input="hi") as stream:
        final = stream.get_final_response()
    check(final.output_text == "Hello from OpenAI" and final.usage.total_tokens == 7,
          f"the SDK's stream helper assembles the response, got {final!r}")

    # Tools: a function call, then its output continuing the stored response.
    called = client.responses.create(model="resp-chat", input="Weather in Paris?", tools=[weather_tool])
    calls = [item for item in called.output if item.type == "function_call"]
    check(len(calls) == 1 and calls[0].name == "get_weather" and calls[0].arguments == '{"city":"Paris"}',
          f"a function call item, got {called.output!r}")
    answered = client.responses.create(
        model="resp-chat", previous_response_id=called.id, tools=[weather_tool],
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "20C"}],
    )
    check(answered.output_text == "It is 20C in Paris", f"answer after the tool output, got {answered!r}")
    check(answered.previous_response_id == called.id, f"previous_response_id echoed, got {answered.previous_response_id}")

    # The same with streaming: the call's arguments arrive as deltas.
    events = stream_events(model="resp-chat", input="Weather in Paris?", tools=[weather_tool])
    arguments = "".join(event.delta for event in events if event.type == "response.function_call_arguments.delta")
    check(arguments == '{"city":"Paris"}', f"streamed arguments, got {arguments!r}")
    done = [event.item for event in events if event.type == "response.output_item.done"]
    check(done and done[-1].type == "function_call" and done[-1].name == "get_weather", f"function call item, got {done!r}")

    # A provider that speaks the Responses API: its answer comes back as it sent it.
    native = client.responses.create(model="resp-native", input="hi")
    check(native.id == "resp_upstream1" and native.output_text == "Hello from Responses", f"native answer, got {native!r}")
    events = stream_events(model="resp-native", input="hi")
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    check(text == "Hello from Responses" and events[-1].response.id == "resp_upstream2", f"native stream, got {text!r}")
    check(client.responses.retrieve("resp_upstream2").output_text == "Hello from Responses", "native stream kept")

    # An Anthropic provider reached through chat completions.
    claude = client.responses.create(model="resp-claude", input="hi", max_output_tokens=64)
    check(claude.output_text == "Hello from Anthropic", f"translated to Anthropic, got {claude!r}")

    # Stored responses: retrieve, delete, and 404s in OpenAI's shape.
    check(client.responses.retrieve(first.id).output_text == "Hello from OpenAI", "a stored response is retrieved")
    items = client.responses.input_items.list(first.id)
    check([item.type for item in items.data] == ["message"], f"input items, got {items!r}")
    client.responses.delete(claude.id)
    try:
        client.responses.retrieve(claude.id)
        check(False, "a deleted response is gone")
    except openai.NotFoundError:
        pass
    try:
        client.responses.create(model="resp-chat", input="hi", previous_response_id="resp_unknown")
        check(False, "an unknown previous_response_id is refused")
    except openai.NotFoundError as error:
        check(error.body.get("code") == "previous_response_not_found", f"error code, got {error.body!r}")
    unstored = client.responses.create(model="resp-chat", input="hi", store=False)
    try:
        client.responses.retrieve(unstored.id)
        check(False, "store=false keeps nothing")
    except openai.NotFoundError:
        pass
    try:
        client.responses.create(model="resp-chat", input="hi", tools=[{"type": "web_search"}])
        check(False, "a tool only the Responses API has is refused by chat-only providers")
    except openai.BadRequestError as error:
        check("web_search" in error.message, f"the tool type is named, got {error.message!r}")

    with open(state_file, "w") as handle:
        handle.write(answered.id)
else:
    # After a restart the chain goes on from the response stored before it.
    with open(state_file) as handle:
        previous = handle.read().strip()
    check(client.responses.retrieve(previous).output_text == "It is 20C in Paris", "kept across the restart")
    follow_up = client.responses.create(model="resp-chat", previous_response_id=previous, input="And tomorrow?")
    check(follow_up.status == "completed" and follow_up.previous_response_id == previous, f"continued, got {follow_up!r}")

report()
