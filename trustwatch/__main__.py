from trustwatch.cli import app

app()
