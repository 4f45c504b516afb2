use lambda_http::{Body, Error, Request, Response, run, service_fn};

async fn handler(_req: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(501)
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::from(r#"{"success":false,"error":"not implemented yet"}"#))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(handler)).await
}
