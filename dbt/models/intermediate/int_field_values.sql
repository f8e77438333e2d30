with records as (

    select * from {{ ref('stg_records') }}

),

unpivoted as (

    select source_row, 'instruction' as field, instruction as text from records
    union all
    select source_row, 'input' as field, input_text as text from records
    union all
    select source_row, 'output' as field, output_text as text from records

),

final as (

    select
        source_row,
        field,
        length(text) as chars,
        {{ approx_tokens('text') }} as tokens,
        length(trim(text)) = 0 as is_empty,
        {{ is_placeholder('text') }} as is_placeholder
    from unpivoted

)

select * from final
