import random


def build_quiz(questions, count=10):
    picked = random.sample(questions, k=min(count, len(questions)))
    for question in picked:
        random.shuffle(question["choices"])
    return picked
