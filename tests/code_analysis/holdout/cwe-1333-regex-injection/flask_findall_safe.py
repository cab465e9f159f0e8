import re

from flask import Flask, request

app = Flask(__name__)
TEXT = open("/srv/corpus.txt").read()


@app.route("/grep")
def grep():
    return {"hits": re.findall(re.escape(request.args["pattern"]), TEXT)[:50]}
