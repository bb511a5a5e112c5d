import issuing
from api import create_app

app = create_app()
issuing.install(app)  # the card readers of `flask cards issue`, which api/ may not import
