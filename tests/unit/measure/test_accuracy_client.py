"""Token ids from either form of an answer's log-probabilities."""

from __future__ import annotations

from inferboard.measure.accuracy_client import request_body, token_ids


def test_llama_server_form() -> None:
    choice = {"logprobs": {"content": [
        {"id": 7, "token": " a", "logprob": -0.1,
         "top_logprobs": [{"id": 9, "logprob": -2.0}, {"id": 7, "logprob": -0.1}]},
        {"id": 8, "token": "b", "logprob": -0.2, "top_logprobs": [{"id": 8, "logprob": -0.2}]}]}}
    assert token_ids(choice) == ([7, 8], [[7, 9], [8]], [[-0.1, -2.0], [-0.2]])


def test_vllm_forms() -> None:
    legacy = {"logprobs": {"tokens": ["token_id:5", "token_id:6"],
                           "top_logprobs": [{"token_id:5": -0.5, "token_id:1": -0.2}, {"token_id:6": -0.1}]}}
    assert token_ids(legacy) == ([5, 6], [[1, 5], [6]], [[-0.2, -0.5], [-0.1]])
    chat = {"logprobs": {"content": [{"token": "token_id:42", "logprob": -1.0,
                                      "top_logprobs": [{"token": "token_id:42", "logprob": -1.0}]}]}}
    assert token_ids(chat) == ([42], [[42]], [[-1.0]])


def test_no_ids_means_retokenize() -> None:
    assert token_ids({"text": "x"})[0] is None
    assert token_ids({"logprobs": {"content": [{"token": " plain", "logprob": -1.0}]}})[0] is None


def test_greedy_requests() -> None:
    chat = request_body("chat", "Hi?", "m", 32, 5)
    assert chat["messages"] == [{"role": "user", "content": "Hi?"}] and chat["top_logprobs"] == 5
    comp = request_body("completion", "The", "m", 32, 5)
    assert comp["prompt"] == "The" and comp["logprobs"] == 5
    assert all(b["temperature"] == 0.0 and b["stream"] is False and b["max_tokens"] == 32 for b in (chat, comp))
